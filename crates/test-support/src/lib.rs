//! Test harness shared by mydocker's integration tests: a real `docker-registry` on
//! 127.0.0.1 and fixture images built from Debian's `busybox-static`.
