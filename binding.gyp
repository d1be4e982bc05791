{
  # Settings every target shares: C++17, warnings as errors, liblxc through pkg-config. Node's
  # common.gypi adds -Wall -Wextra -Wno-unused-parameter to cflags for all targets already;
  # these are stated here so the build does not depend on it.
  "target_defaults": {
    "cflags_cc": [ "-std=c++17", "-Wall", "-Wextra", "-Werror" ],
    "include_dirs": [ "<!@(pkg-config --cflags-only-I lxc | sed 's/-I//g')" ],
    "libraries": [ "<!@(pkg-config --libs lxc)" ]
  },
  "targets": [
    {
      "target_name": "lxcts",
      "sources": [
        "addon/addon.cc",
        "addon/attach_client.cc",
        "addon/attach_command.cc",
        "addon/attach_extras.cc",
        "addon/attach_in_process.cc",
        "addon/attach_js.cc",
        "addon/attach_wire.cc",
        "addon/cgroup_reads.cc",
        "addon/clone.cc",
        "addon/container.cc",
        "addon/container_lock.cc",
        "addon/errors.cc",
        "addon/freezer.cc",
        "addon/global_config.cc",
        "addon/handles.cc",
        "addon/helper_watch.cc",
        "addon/lifecycle_client.cc",
        "addon/config_item.cc",
        "addon/console.cc",
        "addon/log_capture.cc",
        "addon/module_functions.cc",
        "addon/monitor_socket.cc",
        "addon/monitor_state.cc",
        "addon/native_fd.cc",
        "addon/network.cc",
        "addon/netns_reads.cc",
        "addon/process.cc",
        "addon/output_gather.cc",
        "addon/output_stream.cc",
        "addon/resident_client.cc",
        "addon/sealed_program.cc",
        "addon/spawn_helper.cc",
        "addon/task.cc",
        "addon/teardown.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      # node-addon-api's callbacks take arguments a method may not use.
      "cflags_cc": [ "-fvisibility=hidden", "-Wno-unused-parameter" ]
    },
    {
      "target_name": "lxcts-attach",
      "type": "executable",
      "sources": [ "addon/attach_server.cc", "addon/attach_command.cc", "addon/attach_wire.cc", "addon/config_item.cc", "addon/attach_extras.cc", "addon/sealed_program.cc" ],
      "cflags_cc": [ "-pthread" ],
      "ldflags": [ "-pthread" ]
    },
    {
      "target_name": "lxcts-lifecycle",
      "type": "executable",
      "sources": [ "addon/lifecycle_helper.cc", "addon/lifecycle_server.cc", "addon/container_lock.cc", "addon/log_capture.cc", "addon/config_item.cc", "addon/monitor_cgroups.cc" ],
      # Every symbol bound when the resident server starts, not lazily in each call's forked
      # process (lifecycle_server.cc), which would redo it in its copy of the tables.
      "ldflags": [ "-Wl,-z,now" ]
    },
    {
      "target_name": "lxcts-container-op",
      "type": "executable",
      "sources": [ "addon/container_op_helper.cc", "addon/log_capture.cc", "addon/config_item.cc" ]
    },
    {
      # Runs inside containers, whose C library (if any) is not ours: static, no liblxc.
      "target_name": "lxcts-files",
      "type": "executable",
      "sources": [ "addon/files_program.cc" ],
      "libraries!": [ "<!@(pkg-config --libs lxc)" ],
      "ldflags": [ "-static" ]
    },
    {
      # The exec fast path's process inside a container: static, like lxcts-files.
      "target_name": "lxcts-resident",
      "type": "executable",
      "sources": [ "addon/resident_program.cc" ],
      "libraries!": [ "<!@(pkg-config --libs lxc)" ],
      "ldflags": [ "-static" ]
    },
    {
      "target_name": "lxcts-execute",
      "type": "executable",
      "sources": [ "addon/execute_helper.cc", "addon/config_item.cc" ]
    }
  ]
}
