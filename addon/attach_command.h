// What starting a command inside a container needs, shared by the addon (attach_in_process.cc
// and attach_client.cc) and the lxcts-attach helper (attach_server.cc). Nothing here touches
// JavaScript: the helper is a plain program.
#pragma once

#include <lxc/lxccontainer.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fds.h"

namespace lxcts {

struct AttachRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // KEY=VALUE
  bool clearEnv = true;
  // Without clearEnv: the caller's environment when it made the call (KEY=VALUE), sent with
  // the request because this process's own may be another one (the helper's is a copy
  // from when it was spawned).
  std::vector<std::string> callerEnv;
  bool pipeStdin = false;
  std::string cwd;  // "" for the container's "/"
  int64_t uid = -1;
  int64_t gid = -1;
  bool tty = false;  // a pseudo-terminal instead of pipes, for interactive shells
  int cols = 80;
  int rows = 24;
  // Attach options, as go-lxc's AttachOptions names them (see attach_extras.h).
  int32_t namespaces = -1;          // CLONE_NEW* flags to enter; -1: all of the container's
  int64_t personality = -1;         // PER_LINUX or PER_LINUX32; -1: the container's lxc.arch
  std::vector<uint32_t> groups;     // supplementary gids; none: all dropped (liblxc's default)
  bool remountSysProc = false;      // a /proc and /sys of the entered namespaces, without the mount namespace
  bool elevatedPrivileges = false;  // not moved to the cgroup, capabilities and LSM not applied
  // Non-empty: run this file of the host (lxcts-files) instead of looking argv[0] up in the
  // container; executed from a sealed copy, so nothing in the container can change it.
  std::string program;
};

// The command's standard streams: the ends it gets, and the ends this process keeps.
struct AttachStdio {
  bool tty = false;
  // With a terminal, childIn is its slave side and stands for all three.
  UniqueFd childIn, childOut, childErr;
  // -1 where there is none. With a terminal, parentIn and parentOut are two descriptors of
  // the master, so that the two directions can be closed independently.
  UniqueFd parentIn, parentOut, parentErr;

  int ChildOut() const { return tty ? childIn.Get() : childOut.Get(); }
  int ChildErr() const { return tty ? childIn.Get() : childErr.Get(); }
  // Once the command has its copies, ours must go, or the reader never sees end-of-file.
  void CloseChildEnds() {
    childIn.Reset();
    childOut.Reset();
    childErr.Reset();
  }
};

// Opens pipes (stdin from /dev/null unless piped) or a pseudo-terminal, all close-on-exec
// and above fd 2. The terminal is one of the container's own devpts (its /dev/pts/N, as
// lxc-attach gives), or of the host's when the container has none; only a terminal needs
// `c`. On failure, `error` says what could not be opened.
bool OpenAttachStdio(lxc_container* c, const AttachRequest& request, AttachStdio& stdio, std::string& error);

// c->attach() with the request's command and options and the given child ends. Nothing of
// this process's own environment or working directory reaches the command: only what the
// request carries. Returns the command's pid (a child of this process), or -1.
pid_t AttachCommand(lxc_container* c, AttachRequest& request, int in, int out, int err);

}  // namespace lxcts
