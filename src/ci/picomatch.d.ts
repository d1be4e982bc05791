// The part of picomatch (tinyglobby's matcher) the publisher uses; it ships no types.
declare module 'picomatch' {
  interface Options {
    dot?: boolean;
  }
  interface ScanResult {
    base: string;
    isGlob: boolean;
  }
  function picomatch(glob: string | string[], options?: Options): (path: string) => boolean;
  namespace picomatch {
    function scan(glob: string): ScanResult;
  }
  export = picomatch;
}
