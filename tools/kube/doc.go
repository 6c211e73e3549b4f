// Package kube pins the Kubernetes control-plane binaries (kube-apiserver,
// kube-controller-manager) that coinstream's operator and chart tests run against.
// k8s.io/kubernetes cannot be `go install`ed because its go.mod replaces the
// staging modules with local paths; this wrapper replaces them with releases.
package kube
