/** initdb's arguments as the official image's entrypoint runs it (POSTGRES_USER/POSTGRES_PASSWORD): scram, UTF-8, C.UTF-8. */
export function initdbArgs(dataDir: string, user: string, pwfile: string): string[] {
    return ["-D", dataDir, "-U", user, `--pwfile=${pwfile}`, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions"];
}
