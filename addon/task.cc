#include "task.h"

#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "addon_data.h"

namespace lxcts {

Napi::Value ToJs(Napi::Env env, const TaskResult& value) {
  struct Visitor {
    Napi::Env env;
    Napi::Value operator()(std::monostate) const { return env.Undefined(); }
    Napi::Value operator()(Null) const { return env.Null(); }
    Napi::Value operator()(bool b) const { return Napi::Boolean::New(env, b); }
    Napi::Value operator()(int64_t n) const { return Napi::Number::New(env, static_cast<double>(n)); }
    Napi::Value operator()(const std::string& s) const { return Napi::String::New(env, s); }
    Napi::Value operator()(const std::vector<std::string>& list) const {
      Napi::Array array = Napi::Array::New(env, list.size());
      for (size_t i = 0; i < list.size(); i++) array.Set(i, Napi::String::New(env, list[i]));
      return array;
    }
    Napi::Value operator()(const FlatRecord& record) const {
      Napi::Object object = Napi::Object::New(env);
      for (const auto& [key, field] : record) object.Set(key, std::visit(*this, field));
      return object;
    }
    Napi::Value operator()(const StringRecords& records) const {
      Napi::Array array = Napi::Array::New(env, records.size());
      for (size_t i = 0; i < records.size(); i++) {
        Napi::Object object = Napi::Object::New(env);
        for (const auto& [key, value] : records[i]) object.Set(key, value);
        array.Set(i, object);
      }
      return array;
    }
  };
  return std::visit(Visitor{env}, value);
}

namespace {

void RunWork(TaskSpec& spec, Outcome& outcome) {
  try {
    spec.work(outcome);
  } catch (const std::exception& e) {
    outcome.Fail("LXC_INTERNAL", std::string("internal error in lxcts: ") + e.what());
  }
}

struct Baton {
  TaskSpec spec;
  Outcome outcome;
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference keepAlive;
  std::shared_ptr<const std::atomic<bool>> ending;  // the environment's (teardown.h)

  Baton(Napi::Env env, Napi::Object keep, TaskSpec s)
      : spec(std::move(s)), deferred(Napi::Promise::Deferred::New(env)), keepAlive(Napi::Persistent(keep)),
        ending(GetAddonData(env)->teardown->Ending()) {}

  // The answer cannot be given any more. The references belong to a dying environment and
  // must not be released into it; what the outcome holds is freed.
  void Drop() {
    if (!outcome.failure && spec.undelivered) spec.undelivered(outcome);
    keepAlive.SuppressDestruct();
  }

  void Settle(Napi::Env env) {
    // Pool work that ends while its environment is torn down still gets here (Node waits
    // for it), but no JavaScript will run again to see the result.
    if (ending->load()) return Drop();
    Napi::HandleScope scope(env);
    if (outcome.failure) {
      deferred.Reject(MakeLxcError(env, spec.op, spec.container, *outcome.failure));
    } else {
      deferred.Resolve(ToJs(env, outcome.value));
    }
    if (spec.settled) spec.settled();
  }
};

class PoolWorker : public Napi::AsyncWorker {
 public:
  PoolWorker(Napi::Env env, std::unique_ptr<Baton> baton) : Napi::AsyncWorker(env, "lxcts"), baton_(std::move(baton)) {}

  void Execute() override { RunWork(baton_->spec, baton_->outcome); }
  void OnOK() override { baton_->Settle(Env()); }

 private:
  std::unique_ptr<Baton> baton_;
};

// A long task's thread and its thread-safe function: the function is deleted when the
// environment ends (a terminated worker), after its finalizer has run, so the thread may
// call it only while `open` says the finalizer has not run yet, and only under the lock.
struct Link {
  std::mutex mutex;
  bool open = true;
};

void SettleOnMainThread(Napi::Env env, Napi::Function, std::shared_ptr<Link>*, Baton* baton) {
  // env is null when the environment is being torn down: the promise can no longer
  // settle, and its references must not be released into a dying environment.
  if (env != nullptr) {
    baton->Settle(env);
  } else {
    baton->Drop();
  }
  delete baton;
}

using SettleFunction = Napi::TypedThreadSafeFunction<std::shared_ptr<Link>, Baton, SettleOnMainThread>;

// Set on a long task's thread: the environment that queued the task is ending.
thread_local const std::atomic<bool>* currentTaskEnding = nullptr;

}  // namespace

bool TaskAbandoned() { return currentTaskEnding != nullptr && currentTaskEnding->load(); }

Napi::Promise RunTask(Napi::Env env, Napi::Object keepAlive, TaskSpec spec, Runner runner) {
  auto baton = std::make_unique<Baton>(env, keepAlive, std::move(spec));
  Napi::Promise promise = baton->deferred.Promise();
  if (runner == Runner::kPool) {
    // Node waits for pool work when an environment ends, so nothing more is needed here.
    (new PoolWorker(env, std::move(baton)))->Queue();
    return promise;
  }
  // A thread of its own, detached: never waited for, so that a create() or a wait() in a
  // terminated worker does not hold up worker.terminate(). teardown.h says why that is safe.
  auto link = std::make_shared<Link>();
  auto* context = new std::shared_ptr<Link>(link);
  // A thread-safe function keeps the event loop alive until the thread reports back.
  SettleFunction settle = SettleFunction::New(env, "lxcts-long-task", 0, 1, context, [](Napi::Env, void*, std::shared_ptr<Link>* context) {
    {
      std::lock_guard<std::mutex> lock((*context)->mutex);
      (*context)->open = false;
    }
    delete context;
  });
  Baton* raw = baton.release();
  std::thread([raw, settle, link, ending = raw->ending]() mutable {
    currentTaskEnding = ending.get();
    RunWork(raw->spec, raw->outcome);
    {
      std::lock_guard<std::mutex> lock(link->mutex);
      if (link->open) {
        bool queued = settle.NonBlockingCall(raw) == napi_ok;
        settle.Release();
        if (queued) return;  // the main thread settles and deletes the baton
      }
    }
    // The environment is gone or going: nobody can hear the answer. What the work held
    // (the liblxc handle, say) is freed here, on this thread.
    raw->Drop();
    delete raw;
  }).detach();
  return promise;
}

}  // namespace lxcts
