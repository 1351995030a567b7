import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import type { NodeHandle } from "../nodes/source";
import { parsePreflightOutput, PreflightResult } from "./preflight-checks";
import { loadNodeScript, renderNodeStep } from "./remote-script";

export interface PreflightArgs {
    node: NodeHandle;
    /** MTU the private network must have; not checked when omitted. */
    expectedMtu?: number;
    /** Kernel modules that must load (k3s needs overlay, br_netfilter, vxlan). */
    requiredModules?: string[];
    /** `systemd-detect-virt` answers accepted besides kvm/none; container types are refused otherwise. */
    allowVirtualization?: string[];
    /**
     * This node's share of what the platform requests (see components/host/capacity.ts): the node is
     * refused when its CPUs x 1000 or its MemTotal (MiB) are below it. Not checked when omitted (k3s off).
     */
    capacity?: { milliCpu: number; memoryMiB: number; cpuDetail?: string; memoryDetail?: string };
    /** Upper bound for the remote step in seconds. Default 120. */
    timeoutSeconds?: number;
}

/** Renders the environment the preflight script reads. Pure. */
export function preflightEnv(privateAddress: string, a: Omit<PreflightArgs, "node">, privateInterface?: string): Record<string, string> {
    return {
        NORDSTACK_PRIVATE_ADDRESS: privateAddress,
        NORDSTACK_PRIVATE_INTERFACE: privateInterface ?? "",
        NORDSTACK_EXPECTED_MTU: a.expectedMtu === undefined ? "" : String(a.expectedMtu),
        NORDSTACK_REQUIRED_MODULES: (a.requiredModules ?? []).join(" "),
        NORDSTACK_ALLOW_VIRT: (a.allowVirtualization ?? []).join(" "),
        // Only with k3s: what this node's share of the platform's requests is.
        ...(a.capacity
            ? {
                  NORDSTACK_REQUIRED_MILLICPU: String(a.capacity.milliCpu),
                  NORDSTACK_REQUIRED_MEMORY_MIB: String(a.capacity.memoryMiB),
                  NORDSTACK_REQUIRED_CPU_DETAIL: a.capacity.cpuDetail ?? "",
                  NORDSTACK_REQUIRED_MEMORY_DETAIL: a.capacity.memoryDetail ?? "",
              }
            : {}),
    };
}

/**
 * Checks one node before anything is installed: OS and architecture, KVM (not
 * container virtualization), kernel, private interface and MTU, kernel modules,
 * and CPUs and memory against the node's share of the platform's requests.
 * A refused node fails this resource, so nothing that depends on it runs.
 */
export class Preflight extends pulumi.ComponentResource {
    public readonly result: pulumi.Output<PreflightResult>;
    public readonly command: remote.Command;

    constructor(name: string, args: PreflightArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nordstack:host:Preflight", name, {}, opts);
        const script = loadNodeScript("preflight.sh");
        const create = args.node.privateAddress.apply(
            (addr) =>
                renderNodeStep({
                    script,
                    env: preflightEnv(addr, args, args.node.privateInterface),
                    user: args.node.user,
                    timeoutSeconds: args.timeoutSeconds ?? 120,
                }).command,
        );
        this.command = new remote.Command(
            `${name}-check`,
            {
                connection: args.node.connection,
                create,
                stdin: script,
                logging: "stderr",
                addPreviousOutputInEnv: false,
                // The node's identity (e.g. a libvirt guest's id): a replaced machine is checked again.
                triggers: args.node.identity ? [args.node.identity] : undefined,
            },
            { parent: this, dependsOn: args.node.dependsOn, deleteBeforeReplace: true },
        );
        this.result = this.command.stdout.apply((out) => parsePreflightOutput(args.node.name, out));
        this.registerOutputs({ result: this.result });
    }
}
