/** ftx's version (kept equal to package.json's by a test). */
export const FTX_VERSION = '0.1.0';
