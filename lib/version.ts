// The product's version: package.json's, bundled into the image's CLI.
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
