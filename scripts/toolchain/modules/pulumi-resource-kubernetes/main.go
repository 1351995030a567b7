// Command pulumi-resource-kubernetes is nordstack's build wrapper for the
// Pulumi Kubernetes provider. The upstream main embeds files that are
// generated at release time and are not part of the Go module zip, so
// install.sh copies the committed schema.json and terraform-mapping.json of
// the pinned provider module next to this file before building.
package main

import (
	_ "embed"
	"encoding/json"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var schema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

// withVersion stamps the package version into the schema, as the upstream
// release build does.
func withVersion(raw []byte, v string) []byte {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &spec); err != nil {
		panic(err)
	}
	ver, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	spec["version"] = ver
	out, err := json.Marshal(spec)
	if err != nil {
		panic(err)
	}
	return out
}

func main() {
	provider.Serve("kubernetes", version.Version, withVersion(schema, version.Version), terraformMapping)
}
