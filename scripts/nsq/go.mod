// Builds nsqd and nsqlookupd (NSQ 1.3.0) from the Go module proxy. `go install ...@v1.3.0`
// refuses nsq because its go.mod has a replace directive; a module of our own that
// requires nsq and repeats the replace builds it. Used by scripts/setup-host.sh.
module lxcts.local/nsq-build

go 1.17

require github.com/nsqio/nsq v1.3.0

replace github.com/judwhite/go-svc => github.com/mreiferson/go-svc v1.2.2-0.20210815184239-7a96e00010f6
