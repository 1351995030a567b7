// The seam between "where nodes come from" and everything that uses them.
// Existing VPSs over SSH (ExistingHosts) and guests created on a hypervisor
// both hand the layers below the same NodeHandle list.
import * as pulumi from "@pulumi/pulumi";
import type { types } from "@pulumi/command";

export type { NodeRole } from "../config";
import type { NodeRole } from "../config";

/** Everything a later layer needs to use one node. */
export interface NodeHandle {
    /** Kubernetes node name; stable, so resources derived from it keep their URNs. */
    readonly name: string;
    readonly role: NodeRole;
    /** `<country>-<site>`, e.g. `no-oslo`. */
    readonly region: string;
    readonly labels: Readonly<Record<string, string>>;
    /** Address used for SSH and put in the API certificate. */
    readonly publicAddress: pulumi.Output<string>;
    /** Address on the private network; cluster traffic stays on it. */
    readonly privateAddress: pulumi.Output<string>;
    /** Interface holding the private address, when known ahead of preflight. */
    readonly privateInterface?: string;
    /** SSH login user, needed to decide whether node scripts run through sudo. */
    readonly user: string;
    /** SSH connection for @pulumi/command; a secret because it carries the private key. */
    readonly connection: pulumi.Output<types.input.remote.ConnectionArgs>;
    /**
     * What identifies the machine itself (a libvirt guest's domain id, an existing host's
     * pinned host key). Every per-node step carries it in its triggers, so a rebuilt
     * machine gets preflight, tuning and k3s again instead of a state that lies.
     */
    readonly identity?: pulumi.Output<string>;
    /** Resources that must exist before anything runs on the node (e.g. the guest VM). */
    readonly dependsOn: pulumi.Resource[];
}

/** A provider of nodes: an ExistingHosts component today, hypervisor guests later. */
export interface NodeSource {
    readonly nodes: NodeHandle[];
}
