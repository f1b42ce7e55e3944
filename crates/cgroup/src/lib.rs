//! cgroup v1, v2 and hybrid detection, and one manager trait with v1 and v2 implementations
//! for the cpu, cpuset, memory and pids controllers.
