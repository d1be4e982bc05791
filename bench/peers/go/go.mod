module lxcts.bench/peers/go

go 1.21

// go-lxc is not served by the Go module proxy reachable here (it answers
// "403 This module version is not available" for gopkg.in/lxc/go-lxc.v2 and
// github.com/lxc/go-lxc alike), so it comes from Debian's
// golang-gopkg-lxc-go-lxc.v2-dev package (0.0+git20220627.ad3d9f7-2, i.e.
// upstream commit ad3d9f7 of 2022-06-27), installed with
//   apt-get install golang-gopkg-lxc-go-lxc.v2-dev
// The version below is the usual placeholder for a replaced module.
require gopkg.in/lxc/go-lxc.v2 v2.0.0-00010101000000-000000000000

require golang.org/x/sys v0.0.0-20220624220833-87e55d714810 // indirect

replace gopkg.in/lxc/go-lxc.v2 => /usr/share/gocode/src/gopkg.in/lxc/go-lxc.v2
