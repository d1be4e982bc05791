// Argument readers for the native entry points. The TypeScript facade validates user
// input first; these only make sure a wrong call can never crash the process.
#pragma once

#include <napi.h>

#include <string>
#include <vector>

#include "string_arrays.h"

namespace lxcts {

inline std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

// A string, or "" for null/undefined.
inline std::string OptionalStringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info[i].IsNull() || info[i].IsUndefined()) return std::string();
  return StringArg(info, i, what);
}

inline std::vector<std::string> StringArrayArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  std::vector<std::string> out;
  if (info[i].IsNull() || info[i].IsUndefined()) return out;
  if (!info[i].IsArray()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be an array of strings");
  Napi::Array array = info[i].As<Napi::Array>();
  for (uint32_t k = 0; k < array.Length(); k++) {
    Napi::Value v = array.Get(k);
    if (!v.IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be an array of strings");
    out.push_back(v.As<Napi::String>().Utf8Value());
  }
  return out;
}

inline int64_t IntegerArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  return info[i].As<Napi::Number>().Int64Value();
}

inline bool BoolArg(const Napi::CallbackInfo& info, size_t i) { return info[i].IsBoolean() && info[i].As<Napi::Boolean>().Value(); }

}  // namespace lxcts
