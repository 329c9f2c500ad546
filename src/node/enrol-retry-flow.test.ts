import { enrolRetryScenario } from '../../test/support/enrol-retry.scenario.js';

enrolRetryScenario('sqlite', async () => ({ opts: {}, close: async () => {} }));
