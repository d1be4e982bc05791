// Stands in for liblxc's header when the wire test is compiled: the protocol code only
// names `lxc_container` (in attach_command.h), so the test needs neither liblxc nor its
// headers, and runs where LXC is not installed.
#pragma once
struct lxc_container;
