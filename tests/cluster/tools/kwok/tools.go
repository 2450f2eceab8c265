//go:build tools

// Package tools pins KWOK, the fake kubelet that runs the integration
// tests' nodes and pods.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
