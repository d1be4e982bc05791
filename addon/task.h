// The baton pattern (as in sharp): everything a call needs is copied into plain C++ values
// on the main thread, `work` runs off the main thread touching only those values and
// liblxc, and the result is turned into JS values back on the main thread.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "errors.h"

namespace lxcts {

struct Null {};
// A flat JS object of numbers and booleans, e.g. { pid, stdout, stderr, tty } from attach.
using FlatRecord = std::vector<std::pair<std::string, std::variant<int64_t, bool>>>;
// An array of flat JS objects of strings, e.g. the snapshot list.
using StringRecords = std::vector<std::vector<std::pair<std::string, std::string>>>;
using TaskResult = std::variant<std::monostate, Null, bool, int64_t, std::string, std::vector<std::string>, FlatRecord, StringRecords>;

// What a task produced: a value or a failure. Holds no Napi values.
struct Outcome {
  TaskResult value;
  std::optional<Failure> failure;

  // liblxc failed: the liblxc log lines of the call are attached as details.
  void Fail(std::string code, std::string message) { failure = Failure{std::move(code), std::move(message), {}, true}; }
  // lxcts refused before asking liblxc to act (not running, already exists...): whatever
  // the log holds is not about this call.
  void Refuse(std::string code, std::string message) { failure = Failure{std::move(code), std::move(message), {}, false}; }
};

struct TaskSpec {
  std::string op;                      // becomes LxcError.op
  std::string container;               // becomes LxcError.container; empty for module-level calls
  std::function<void(Outcome&)> work;  // off the main thread
  std::function<void()> settled;       // on the main thread, after the promise settles
  // Instead of settling, when the environment ended before the answer could be given (a
  // worker terminated mid-call): frees what a successful outcome's value holds (descriptors,
  // a child to reap). Any thread; must not touch Napi values.
  std::function<void(Outcome&)> undelivered;
};

enum class Runner {
  kPool,       // libuv's thread pool: calls that return within milliseconds
  kOwnThread,  // a thread of its own: calls that may block for long (wait, shutdown, create)
};

// Inside a task's work: true once the environment that queued it is going away (its
// worker_thread was terminated, or the process is exiting). Work that loops until some
// state is reached (wait) stops then, since nobody is left to hear the answer.
bool TaskAbandoned();

// A result as JavaScript sees it. Main thread only.
Napi::Value ToJs(Napi::Env env, const TaskResult& value);

// Runs spec.work off the main thread; `keepAlive` is held until the task settles so the
// object whose native state the work uses cannot be collected meanwhile.
Napi::Promise RunTask(Napi::Env env, Napi::Object keepAlive, TaskSpec spec, Runner runner);

}  // namespace lxcts
