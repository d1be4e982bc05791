#include "attach_js.h"

#include "args.h"
#include "attach_extras.h"

namespace lxcts {
namespace {

// An array's elements as strings; nothing for anything else.
std::vector<std::string> StringList(Napi::Value value) {
  std::vector<std::string> strings;
  if (!value.IsArray()) return strings;
  Napi::Array list = value.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) strings.push_back(list.Get(i).ToString().Utf8Value());
  return strings;
}

}  // namespace

AttachRequest ReadAttachRequest(const Napi::CallbackInfo& info, size_t first) {
  AttachRequest request;
  request.argv = StringArrayArg(info, first, "argv");
  if (request.argv.empty()) throw Napi::TypeError::New(info.Env(), "argv must not be empty");
  if (!info[first + 1].IsObject()) throw Napi::TypeError::New(info.Env(), "attach options must be an object");
  Napi::Object o = info[first + 1].As<Napi::Object>();
  request.env = StringList(o.Get("env"));
  request.clearEnv = o.Get("clearEnv").ToBoolean().Value();
  request.callerEnv = StringList(o.Get("callerEnv"));  // with clearEnv: envToKeep's variables
  request.pipeStdin = o.Get("pipeStdin").ToBoolean().Value();
  if (o.Get("cwd").IsString()) request.cwd = o.Get("cwd").As<Napi::String>().Utf8Value();
  if (o.Get("uid").IsNumber()) request.uid = o.Get("uid").As<Napi::Number>().Int64Value();
  if (o.Get("gid").IsNumber()) request.gid = o.Get("gid").As<Napi::Number>().Int64Value();
  request.tty = o.Get("tty").ToBoolean().Value();
  if (o.Get("cols").IsNumber()) request.cols = o.Get("cols").As<Napi::Number>().Int32Value();
  if (o.Get("rows").IsNumber()) request.rows = o.Get("rows").As<Napi::Number>().Int32Value();
  if (o.Get("program").IsString()) request.program = o.Get("program").As<Napi::String>().Utf8Value();
  if (o.Get("namespaces").IsNumber()) request.namespaces = o.Get("namespaces").As<Napi::Number>().Int32Value();
  if (o.Get("personality").IsNumber()) request.personality = o.Get("personality").As<Napi::Number>().Int64Value();
  if (o.Get("groups").IsArray()) {
    Napi::Array groups = o.Get("groups").As<Napi::Array>();
    for (uint32_t i = 0; i < groups.Length(); i++) request.groups.push_back(groups.Get(i).ToNumber().Uint32Value());
  }
  request.remountSysProc = o.Get("remountSysProc").ToBoolean().Value();
  request.elevatedPrivileges = o.Get("elevatedPrivileges").ToBoolean().Value();
  // The TypeScript side checked these; a value it would not send is refused here too.
  std::string problem = AttachExtrasProblem(request);
  if (!problem.empty()) throw Napi::TypeError::New(info.Env(), problem);
  return request;
}

FlatRecord AttachedRecord(pid_t pid, int pidfd, int statusFd, AttachStdio& stdio, EnvTeardown& teardown) {
  teardown.Unclaimed(pid, {pidfd, statusFd, stdio.parentIn.Get(), stdio.parentOut.Get(), stdio.parentErr.Get()}, statusFd < 0);
  return FlatRecord{
      {"pid", pid},
      {"pidfd", pidfd},
      {"statusFd", statusFd},
      {"stdin", stdio.parentIn.Release()},
      {"stdout", stdio.parentOut.Release()},
      {"stderr", stdio.parentErr.Release()},
      {"tty", stdio.tty},
  };
}

}  // namespace lxcts
