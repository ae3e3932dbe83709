import { describeFileSystem } from '@strata/fs-core/testing';
import { azureFs, createContainer, deleteContainer, uniqueContainer } from './helpers.js';

describeFileSystem(
  'azure (Azurite)',
  async () => {
    const container = uniqueContainer('conformance');
    await createContainer(container);
    const fs = azureFs();
    return {
      fs,
      base: `${container}/run`,
      teardown: async () => {
        await deleteContainer(container);
        await fs.close();
      },
    };
  },
  { slow: true, patch: 'first-part' },
);
