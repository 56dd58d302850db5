// Package templates holds the BIRD configuration templates edgeagent embeds as defaults, so the
// binary needs no template files; an operator's file may replace each of them.
package templates

import _ "embed"

// BIRDPeer is the default text/template for one BGP protocol of a BIRDProtocol object. See
// reconcilers/birdprotocol/README.md for its variables.
//
//go:embed bird_peer.conf.tmpl
var BIRDPeer string
