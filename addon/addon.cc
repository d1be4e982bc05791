// Entry point of the lxcts native addon. The shape of these exports is declared for
// TypeScript in src/lxc/native.ts; keep the two in step.
#include <napi.h>

#include "addon_data.h"
#include "attach_client.h"
#include "cgroup_reads.h"
#include "console.h"
#include "container.h"
#include "global_config.h"
#include "module_functions.h"
#include "monitor_socket.h"
#include "monitor_state.h"
#include "native_fd.h"
#include "output_gather.h"
#include "output_stream.h"
#include "process.h"
#include "resident_client.h"
#include "teardown.h"

namespace lxcts {
namespace {

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass expects a class");
  GetAddonData(info.Env())->errorClass = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  PinAddon();
  auto* data = new AddonData();
  data->teardown = EnvTeardown::Install(env);
  env.SetInstanceData<AddonData>(data);  // deleted by node-addon-api when env goes away

  exports.Set("NativeContainer", NativeContainer::Define(env));
  exports.Set("NativeProcess", NativeProcess::Define(env));
  exports.Set("OutputGather", OutputGather::Define(env));
  exports.Set("OutputStream", OutputStream::Define(env));
  exports.Set("NativeFd", NativeFd::Define(env));
  exports.Set("setErrorClass", Napi::Function::New<SetErrorClass>(env, "setErrorClass"));
  exports.Set("listContainers", Napi::Function::New<ListContainers>(env, "listContainers"));
  exports.Set("defaultLxcpath", Napi::Function::New<DefaultLxcpath>(env, "defaultLxcpath"));
  exports.Set("version", Napi::Function::New<Version>(env, "version"));
  exports.Set("resizeTerminal", Napi::Function::New<ResizeTerminal>(env, "resizeTerminal"));
  exports.Set("clockTicks", Napi::Function::New<ClockTicks>(env, "clockTicks"));
  exports.Set("attachRemote", Napi::Function::New<AttachRemote>(env, "attachRemote"));
  exports.Set("setAttachHelper", Napi::Function::New<SetAttachHelper>(env, "setAttachHelper"));
  exports.Set("attachHelperPid", Napi::Function::New<AttachHelperPid>(env, "attachHelperPid"));
  exports.Set("configItemSupported", Napi::Function::New<ConfigItemSupported>(env, "configItemSupported"));
  exports.Set("globalConfigItem", Napi::Function::New<GlobalConfigItem>(env, "globalConfigItem"));
  exports.Set("hasApiExtension", Napi::Function::New<HasApiExtension>(env, "hasApiExtension"));
  exports.Set("consoleResize", Napi::Function::New<ConsoleResize>(env, "consoleResize"));
  exports.Set("monitorConnect", Napi::Function::New<MonitorConnect>(env, "monitorConnect"));
  exports.Set("monitorState", Napi::Function::New<MonitorState>(env, "monitorState"));
  exports.Set("readCgroupFiles", Napi::Function::New<ReadCgroupFiles>(env, "readCgroupFiles"));
  exports.Set("residentConnect", Napi::Function::New<ResidentConnect>(env, "residentConnect"));
  exports.Set("residentExec", Napi::Function::New<ResidentExec>(env, "residentExec"));
  return exports;
}

}  // namespace
}  // namespace lxcts

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return lxcts::Init(env, exports); }

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitAddon)
