//! Container networking: Linux bridges, veth pairs, IP address management, NAT and port
//! publishing, and the content of `/etc/hosts` and `/etc/resolv.conf`.
