{
  "targets": [
    {
      "target_name": "lxcts",
      "sources": [
        "addon/addon.cc",
        "addon/attach.cc",
        "addon/attach_client.cc",
        "addon/attach_command.cc",
        "addon/attach_wire.cc",
        "addon/clone.cc",
        "addon/container.cc",
        "addon/errors.cc",
        "addon/freezer.cc",
        "addon/list.cc",
        "addon/config_item.cc",
        "addon/log_capture.cc",
        "addon/network.cc",
        "addon/process.cc",
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
      "cflags_cc": [ "-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter" ],
      "include_dirs": [ "<!@(pkg-config --cflags-only-I lxc | sed 's/-I//g')" ],
      "libraries": [ "<!@(pkg-config --libs lxc)" ]
    },
    {
      "target_name": "lxcts-attach",
      "type": "executable",
      "sources": [ "addon/attach_server.cc", "addon/attach_command.cc", "addon/attach_wire.cc" ],
      "cflags_cc": [ "-std=c++17", "-Wall", "-Wextra", "-pthread" ],
      "ldflags": [ "-pthread" ],
      "include_dirs": [ "<!@(pkg-config --cflags-only-I lxc | sed 's/-I//g')" ],
      "libraries": [ "<!@(pkg-config --libs lxc)" ]
    },
    {
      "target_name": "lxcts-execute",
      "type": "executable",
      "sources": [ "addon/execute_helper.cc" ],
      "cflags_cc": [ "-std=c++17", "-Wall", "-Wextra" ],
      "include_dirs": [ "<!@(pkg-config --cflags-only-I lxc | sed 's/-I//g')" ],
      "libraries": [ "<!@(pkg-config --libs lxc)" ]
    }
  ]
}
