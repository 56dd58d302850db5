//go:build tools

// Package tools pins module dependencies that packages will import.
package tools
import (
 _ "k8s.io/client-go/util/workqueue"
 _ "github.com/go-logr/logr"
 _ "github.com/go-logr/zapr"
 _ "go.uber.org/zap"
 _ "k8s.io/klog/v2"
 _ "github.com/vishvananda/netlink"
 _ "golang.zx2c4.com/wireguard/wgctrl"
 _ "golang.zx2c4.com/wireguard/device"
 _ "golang.zx2c4.com/wireguard/tun"
 _ "golang.zx2c4.com/wireguard/ipc"
 _ "github.com/miekg/dns"
 _ "github.com/oschwald/maxminddb-golang/v2"
 _ "github.com/maxmind/mmdbwriter"
 _ "github.com/golang-jwt/jwt/v5"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "golang.org/x/crypto/bcrypt"
 _ "gopkg.in/yaml.v3"
 _ "golang.org/x/sys/unix"
 _ "golang.org/x/time/rate"
)
