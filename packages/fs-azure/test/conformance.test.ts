import { describeFileSystem } from '@strata/fs-core/testing';
import { azureFs, createContainer, deleteContainer, putRaw, uniqueContainer } from './helpers.js';

describeFileSystem(
  'azure (Azurite)',
  async () => {
    const container = uniqueContainer('conformance');
    await createContainer(container);
    const fs = azureFs();
    return {
      fs,
      base: `${container}/run`,
      rawPut: putRaw,
      teardown: async () => {
        await deleteContainer(container);
        await fs.close();
      },
    };
  },
  { slow: true, patch: 'first-part' },
);
