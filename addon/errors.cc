#include "errors.h"

#include "addon_data.h"

namespace lxcts {

Napi::Value MakeLxcError(Napi::Env env, const std::string& op, const std::string& container, const Failure& failure) {
  Napi::Array details = Napi::Array::New(env, failure.details.size());
  for (size_t i = 0; i < failure.details.size(); i++) {
    details.Set(i, Napi::String::New(env, failure.details[i]));
  }
  Napi::Object props = Napi::Object::New(env);
  props.Set("code", failure.code);
  props.Set("op", op);
  props.Set("container", container.empty() ? env.Null() : Napi::String::New(env, container));
  props.Set("details", details);

  AddonData* data = GetAddonData(env);
  if (data != nullptr && !data->errorClass.IsEmpty()) {
    return data->errorClass.New({Napi::String::New(env, failure.message), props});
  }
  Napi::Error error = Napi::Error::New(env, failure.message);
  Napi::Object object = error.Value();
  for (const char* key : {"code", "op", "container", "details"}) object.Set(key, props.Get(key));
  return object;
}

}  // namespace lxcts
