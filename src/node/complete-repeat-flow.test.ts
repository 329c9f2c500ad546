import { completeRepeatScenario } from '../../test/support/complete-repeat.scenario.js';

completeRepeatScenario('sqlite', async () => ({ opts: {}, close: async () => {} }));
