// Package smoketest checks that the kernel lab (hack/kernel-lab) provides what the tunnel tests
// need: GRE, ip6gre, kernel WireGuard and veth links, network namespaces, and traffic through
// each tunnel type. Its tests carry the kernellab build tag and run inside the lab VM:
//
//	hack/kernel-lab/run.sh ./hack/kernel-lab/smoketest -test.v
package smoketest
