module nordstack.local/toolchain/pulumi-resource-kubernetes

go 1.25.11

// Upstream replaces sdk/v4 with ../sdk (the same commit, v4.25.0), which is
// not in the module zip and v4.24/v4.25 of sdk/v4 are not served by the Go
// module proxy: use the nearest older served release, whose own pulumi sdk/v3
// requirement stays below the provider's pkg/v3 v3.215.0.
replace github.com/pulumi/pulumi-kubernetes/sdk/v4 => github.com/pulumi/pulumi-kubernetes/sdk/v4 v4.22.2

require github.com/pulumi/pulumi-kubernetes/provider/v4 v4.0.0-20260115033456-f47bc2d6f199
