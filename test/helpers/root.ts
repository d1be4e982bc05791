/**
 * The checkout's root: where the addon loader finds package.json and binding.gyp, also
 * when the bench compiles these helpers into bench/out/test/helpers/.
 */
export { packageRoot as ROOT } from '../../src/lxc/native';
