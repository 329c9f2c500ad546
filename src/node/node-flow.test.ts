import { nodeFlowScenario } from '../../test/support/node-flow.scenario.js';

nodeFlowScenario('sqlite', async () => ({ opts: {}, close: async () => {} }));
