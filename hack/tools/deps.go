//go:build tools

// Package tools pins module dependencies that packages will import.
package tools

import (
	_ "github.com/go-logr/logr"
	_ "github.com/go-logr/zapr"
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/maxmind/mmdbwriter"
	_ "github.com/miekg/dns"
	_ "github.com/oschwald/maxminddb-golang/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/vishvananda/netlink"
	_ "go.uber.org/zap"
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/sys/unix"
	_ "golang.org/x/time/rate"
	_ "golang.zx2c4.com/wireguard/device"
	_ "golang.zx2c4.com/wireguard/ipc"
	_ "golang.zx2c4.com/wireguard/tun"
	_ "golang.zx2c4.com/wireguard/wgctrl"
	_ "gopkg.in/yaml.v3"
	_ "k8s.io/client-go/util/workqueue"
	_ "k8s.io/klog/v2"
)
