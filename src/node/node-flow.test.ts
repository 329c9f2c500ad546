import { nodeFlowScenario } from './node-flow.scenario.js';

nodeFlowScenario('sqlite', async () => ({ opts: {}, close: async () => {} }));
