// A failed liblxc call, described as plain data so worker threads can fill it in
// and the main thread can turn it into a JS LxcError.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

namespace lxcts {

struct Failure {
  std::string code;                  // stable, e.g. "LXC_NOT_RUNNING"
  std::string message;               // one sentence for a person
  std::vector<std::string> details;  // liblxc log lines written during the call
  bool wantsLog = true;              // attach the call's liblxc log lines as details
};

// Builds `new LxcError(message, { code, op, container, details })`. Falls back to a plain
// Error with the same properties if the class was never registered.
Napi::Value MakeLxcError(Napi::Env env, const std::string& op, const std::string& container, const Failure& failure);

}  // namespace lxcts
