//! Whether this process may use AMX: CPU features, OS state, the Linux tile permission and the
//! `SBGM_XLA_NO_AMX` switch, checked once per process.

#[cfg(target_arch = "x86_64")]
use std::arch::{
    asm,
    x86_64::{__cpuid, __cpuid_count},
};
use std::sync::OnceLock;

/// Whether this process can run AMX bf16 tile instructions: CPUID (leaf 7: AMX-TILE, AMX-BF16;
/// also AVX-512 F/BW/BF16, used for packing), XCR0 tile state enabled by the OS (`xgetbv`), and
/// the Linux permission request (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`)
/// succeeded. Checked once per process (the permission is process-wide). The environment
/// variable `SBGM_XLA_NO_AMX` set to anything but empty or `0` forces false; it is read once, at
/// the first call, so set it before the process starts.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| !disabled_by_env() && detect())
}

/// Whether `SBGM_XLA_NO_AMX` asks to leave AMX off.
fn disabled_by_env() -> bool {
    std::env::var_os("SBGM_XLA_NO_AMX").is_some_and(|v| !v.is_empty() && v != "0")
}

/// No AMX outside x86_64.
#[cfg(not(target_arch = "x86_64"))]
fn detect() -> bool {
    false
}

/// CPU, OS and permission checks (see [`available`]).
#[cfg(target_arch = "x86_64")]
fn detect() -> bool {
    // CPUID is always present on x86_64.
    let max_leaf = __cpuid(0).eax;
    if max_leaf < 7 {
        return false;
    }
    let osxsave = (__cpuid(1).ecx >> 27) & 1 == 1;
    let leaf7 = __cpuid_count(7, 0);
    let amx_bf16 = (leaf7.edx >> 22) & 1 == 1;
    let amx_tile = (leaf7.edx >> 24) & 1 == 1;
    if !(osxsave && amx_bf16 && amx_tile) {
        return false;
    }
    let xcr0 = xgetbv0();
    // XCR0 bit 17: XTILECFG, bit 18: XTILEDATA.
    if xcr0 & (0b11 << 17) != 0b11 << 17 {
        return false;
    }
    if !(is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512bf16"))
    {
        return false;
    }
    request_tile_permission()
}

/// XCR0, the OS-enabled state components.
#[cfg(target_arch = "x86_64")]
fn xgetbv0() -> u64 {
    let (eax, edx): (u32, u32);
    // SAFETY: only called after CPUID reported OSXSAVE, so `xgetbv` exists and is enabled;
    // with ecx = 0 it reads XCR0 into edx:eax and touches nothing else.
    unsafe {
        asm!("xgetbv", in("ecx") 0u32, out("eax") eax, out("edx") edx,
             options(nomem, nostack, preserves_flags));
    }
    (u64::from(edx) << 32) | u64::from(eax)
}

/// Linux: asks for the (process-wide) permission to use the tile data state.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tile_permission() -> bool {
    const ARCH_GET_XCOMP_PERM: libc::c_long = 0x1022;
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with these codes takes an integer (REQ) or a pointer to a u64 that
    // it writes (GET); `perm` lives for the whole call.
    unsafe {
        if libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        ) != 0
        {
            return false;
        }
        let mut perm: u64 = 0;
        if libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_GET_XCOMP_PERM,
            &mut perm as *mut u64,
        ) != 0
        {
            return false;
        }
        perm & (1 << XFEATURE_XTILEDATA) != 0
    }
}

/// Other operating systems: not used (no known permission protocol here).
#[cfg(all(target_arch = "x86_64", not(target_os = "linux")))]
fn request_tile_permission() -> bool {
    false
}
