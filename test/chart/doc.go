// Package chart holds the tests of the Helm chart in charts/cassfs; it has no code of its own.
//
// The tests run the real helm binary (hack/helm.sh builds a pinned one into ~/.cache/cassfs, or set $HELM):
// `helm lint --strict`, then `helm template` with the default values and with testdata/all-values.yaml, which
// sets every option. Each rendered document is decoded strictly into its Kubernetes API type (k8s.io/api), so a
// misspelt or misplaced field fails the test, and key facts are checked on the typed objects: the CSIDriver,
// the privileged node plugin with Bidirectional mount propagation, pinned sidecar images, StorageClass
// parameters, the wiring of ServiceAccounts, RBAC, secrets and ports. Invalid values must make helm fail
// (values.schema.json). Without a helm binary the tests fail with a hint; they never skip.
package chart
