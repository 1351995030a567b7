// The k3s install script nodes run as root, pinned: a commit of k3s-io/k3s (not the
// moving https://get.k3s.io, which serves whatever master has today) and the sha256
// of that file. k3s-install.sh refuses a downloaded script with any other hash.
// To move the pin: review install.sh at the new commit, then
//   curl -sfL https://raw.githubusercontent.com/k3s-io/k3s/<commit>/install.sh | sha256sum

export const K3S_INSTALL_SCRIPT_COMMIT = "0136cf258954a458da1404858396342724b93d24";
export const K3S_INSTALL_SCRIPT_URL = `https://raw.githubusercontent.com/k3s-io/k3s/${K3S_INSTALL_SCRIPT_COMMIT}/install.sh`;
export const K3S_INSTALL_SCRIPT_SHA256 = "40b487f0d8ef4f5d1bf422e7bb6228cc7789c40ecc66c5ab067d396bbee9816e";
