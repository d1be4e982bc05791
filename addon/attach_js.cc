#include "attach_js.h"

#include "args.h"

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
  if (!request.clearEnv) request.callerEnv = StringList(o.Get("callerEnv"));
  request.pipeStdin = o.Get("pipeStdin").ToBoolean().Value();
  if (o.Get("cwd").IsString()) request.cwd = o.Get("cwd").As<Napi::String>().Utf8Value();
  if (o.Get("uid").IsNumber()) request.uid = o.Get("uid").As<Napi::Number>().Int64Value();
  if (o.Get("gid").IsNumber()) request.gid = o.Get("gid").As<Napi::Number>().Int64Value();
  request.tty = o.Get("tty").ToBoolean().Value();
  if (o.Get("cols").IsNumber()) request.cols = o.Get("cols").As<Napi::Number>().Int32Value();
  if (o.Get("rows").IsNumber()) request.rows = o.Get("rows").As<Napi::Number>().Int32Value();
  if (o.Get("program").IsString()) request.program = o.Get("program").As<Napi::String>().Utf8Value();
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
