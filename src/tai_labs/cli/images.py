"""`tai-labs image build|ls|rm|prune|import|build-windows`: what nodes boot from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from tai_labs.cli.output import console, err_console, print_json, styled

app = typer.Typer(
    help="Build, list and remove node images (debootstrap recipes under images/); "
    "build-windows makes a Windows image from your own ISO.",
    no_args_is_help=True,
)


def _builder():  # type: ignore[no-untyped-def]
    from tai_labs.images.builder import ImageBuilder

    return ImageBuilder()


def recipe_names(incomplete: str) -> list[str]:
    try:
        return [s.name for s in _builder().list() if s.name.startswith(incomplete)]
    except Exception:  # completion must never fail loudly
        return []


def _progress_bar() -> Progress:
    """One bar per image: name, bar, percentage, current step, elapsed time (on stderr)."""
    return Progress(
        # markup=False: a step is a line apt or debootstrap printed, never markup.
        TextColumn("{task.description:<8}", markup=False),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%", markup=False),
        TextColumn("{task.fields[step]}", markup=False),
        TimeElapsedColumn(),
        console=err_console,
    )


@app.command("build")
def build(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Images to build (default: all).", autocompletion=recipe_names),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if cached.")] = False,
    vm: Annotated[
        bool,
        typer.Option(
            "--vm",
            help="Also make each image's virtual machine disk (qcow2, kernel, initrd) for "
            "nodes with engine: vm. `up` does it on demand; this prepares it ahead.",
        ),
    ] = False,
) -> None:
    """Build images (and their parents) that the cache lacks for their current recipe."""
    from tai_labs.images.progress import BuildProgress
    from tai_labs.images.vm import build_vm_image

    builder = _builder()
    targets = names or [s.name for s in builder.list()]
    with _progress_bar() as bar:
        tasks: dict[str, TaskID] = {}

        def show(p: BuildProgress) -> None:
            if p.image not in tasks:
                tasks[p.image] = bar.add_task(p.image, total=100, step="")
            bar.update(tasks[p.image], completed=p.percent, step=p.step)

        for name in targets:
            builder.build(name, progress=show, force=force)
            if vm:
                build_vm_image(name, builder, progress=show, force=force)


@app.command("ls")
def ls(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List recipes and what the cache holds for each, then imported and Windows disks."""
    from tai_labs.reports.images import image_inventory

    rows = image_inventory(_builder())
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    table = Table("image", "kind", "parent", "key", "cached", "VM disk", "description")
    for r in rows:
        cached = styled("yes", "green") if r.built else styled("no", "yellow")
        if r.stale_builds:
            cached += f" (+{r.stale_builds} stale)"
        table.add_row(
            r.name,
            r.kind,
            r.parent or "-",
            r.key[:12] or "-",
            cached,
            "yes" if r.vm else "-",
            r.description,
        )
    console.print(table)


@app.command("rm")
def rm(
    names: Annotated[
        list[str], typer.Argument(help="Images to remove.", autocompletion=recipe_names)
    ],
) -> None:
    """Remove cached builds of images, or imported disks (refused while a lab uses them)."""
    builder = _builder()
    for name in names:
        for path in builder.remove(name):
            console.print(f"removed {path}")


_IMPORT_HELP = """Register a disk image you bring (a VM you prepared) as a node image.

The file may be qcow2, raw, vmdk, vdi or vhdx: it is converted to qcow2 under the data
folder and never written again (each node boots from its own overlay). Say how tai-labs
reaches it (--access ssh or winrm) and with which account; the password is read from an
environment variable, never from the command line, and stored with mode 0600.

Scenarios then name it on a VM node: `image: NAME`, `engine: vm`. The disk boots its own
loader. Windows disks should have the QEMU guest agent and WinRM over HTTPS (see `tai-labs
image build-windows`); Linux disks the QEMU guest agent, and the config-disk unit of
images/vm/vm-guest.yaml for their addresses and keys.

Example:

  ADMIN_PW='...' tai-labs image import poste-w10 ./w10.qcow2 --os windows \
      --access winrm --user Administrator --password-env ADMIN_PW
"""


@app.command("import", help=_IMPORT_HELP)
def import_cmd(
    name: Annotated[str, typer.Argument(help="Image name, as scenarios will write it.")],
    file: Annotated[Path, typer.Argument(help="The disk file to import.", exists=True)],
    os_family: Annotated[str, typer.Option("--os", help="linux or windows.")] = "linux",
    access: Annotated[str, typer.Option("--access", help="ssh or winrm.")] = "ssh",
    user: Annotated[str, typer.Option("--user", help="Account tai-labs logs in as.")] = "root",
    password_env: Annotated[
        str,
        typer.Option("--password-env", help="Environment variable holding its password."),
    ] = "TAI_LABS_IMAGE_PASSWORD",
    memory: Annotated[
        int | None, typer.Option("--memory", help="Default memory of its nodes, MiB.")
    ] = None,
) -> None:
    import os

    from tai_labs.errors import UsageError
    from tai_labs.images.disk import import_disk

    if os_family not in ("linux", "windows"):
        raise UsageError(f"--os must be linux or windows, not {os_family!r}")
    if access not in ("ssh", "winrm"):
        raise UsageError(f"--access must be ssh or winrm, not {access!r}")
    password = os.environ.get(password_env, "")
    if not password:
        raise UsageError(
            f"environment variable {password_env} is empty",
            hint=f"{password_env}='...' tai-labs image import ...",
        )
    image = import_disk(
        name,
        file,
        os_family=os_family,  # type: ignore[arg-type]
        method=access,  # type: ignore[arg-type]
        user=user,
        password=password,
        memory_mib=memory,
    )
    console.print(f"imported {image.name} into {image.folder}")


@app.command("prune")
def prune() -> None:
    """Remove builds of older recipe versions and leftovers of interrupted builds."""
    removed = _builder().prune()
    for path in removed:
        console.print(f"removed {path}")
    if not removed:
        console.print("nothing to prune")


_WINDOWS_HELP = """Build a Windows node image from your own Windows ISO (unattended, over libvirt).

tai-labs ships no Windows media. Bring:

- a Windows ISO: the free evaluation editions work (Microsoft Evaluation Center:
  Windows 10/11 Enterprise, Windows Server 2019/2022), or your own licensed media;
- virtio-win.iso, the driver ISO for the virtual disk and network card (Fedora's
  virtio-win "stable" download).

The command writes an answer ISO (autounattend.xml + a first-logon PowerShell script from
images/windows/), creates a qcow2 disk, installs Windows in a temporary libvirt VM and waits
until the VM shuts itself down: the script does that once WinRM over HTTPS (port 5986) and
the QEMU guest agent work. The result is images/windows-NAME/ in the data folder
($TAI_LABS_DATA, default /var/lib/tai-labs): disk.qcow2, meta.json, and secrets.json with
the Administrator password. Scenarios name it as `image: windows-NAME` on Windows nodes.
See images/windows/README.md for where to get the ISOs and what to do when a build fails.

Expect 20-40 minutes with KVM, several hours without. Watch the VM with
`virsh vncdisplay tai-labs-build-windows-NAME`; the build log is kept on failure.

Examples:

    tai-labs image build-windows --iso ~/iso/server2022-eval.iso --virtio ~/iso/virtio-win.iso \\
        --edition server2022
    tai-labs image build-windows --iso win11.iso --virtio virtio-win.iso --edition win11 \\
        --dry-run --out /tmp/win11-files     # answer ISO + domain XML only, nothing runs
"""


@app.command("build-windows", help=_WINDOWS_HELP)
def build_windows(
    iso: Annotated[
        Path, typer.Option("--iso", help="The Windows install ISO (evaluation editions work).")
    ],
    virtio: Annotated[
        Path, typer.Option("--virtio", help="virtio-win.iso: virtio drivers and guest agent.")
    ],
    edition: Annotated[
        str,
        typer.Option(
            "--edition",
            help="win10, win11, server2019 or server2022: drivers to load, image to pick.",
        ),
    ] = "server2022",
    name: Annotated[
        str | None,
        typer.Option("--name", help="Image name after 'windows-' (default: the edition)."),
    ] = None,
    disk_gib: Annotated[int, typer.Option("--disk-gib", help="Virtual disk size (sparse).")] = 64,
    memory_mib: Annotated[
        int, typer.Option("--memory-mib", help="Memory of the install VM.")
    ] = 4096,
    cpus: Annotated[int, typer.Option("--cpus", help="Virtual CPUs of the install VM.")] = 2,
    timeout: Annotated[
        str, typer.Option("--timeout", help="Give up after this long: 90m, 4h, or seconds.")
    ] = "4h",
    image_index: Annotated[
        int | None,
        typer.Option(
            "--image-index",
            help="Image in install.wim (default: 1 for clients, 2 = Standard with Desktop "
            "Experience for servers). `wiminfo sources/install.wim` lists them.",
        ),
    ] = None,
    image_name: Annotated[
        str | None, typer.Option("--image-name", help="Pick the image by name instead.")
    ] = None,
    product_key: Annotated[
        str | None, typer.Option("--product-key", help="Only for non-evaluation media.")
    ] = None,
    computer_name: Annotated[
        str | None, typer.Option("--computer-name", help="NetBIOS name of the built machine.")
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file",
            help="File whose first line is the Administrator password (default: generated; "
            "either way it ends up in secrets.json, mode 0600).",
        ),
    ] = None,
    network: Annotated[
        str | None,
        typer.Option("--network", help="libvirt network for the VM (default: user-mode NAT)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild an existing image.")] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Write the answer ISO and domain XML to --out and stop."),
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for --dry-run (default: ./windows-NAME).")
    ] = None,
) -> None:
    from tai_labs.errors import UsageError
    from tai_labs.images import disk, windows, windows_build

    if edition not in windows.EDITIONS:
        raise UsageError(
            f"unknown edition {edition!r}", hint=f"one of: {', '.join(windows.EDITIONS)}"
        )
    if password_file is not None:
        lines = password_file.read_text(encoding="utf-8").splitlines()
        password = lines[0] if lines else ""
    else:
        password = windows.new_password()
    spec = windows.WindowsBuildSpec(
        iso=iso.expanduser().resolve(),
        virtio_iso=virtio.expanduser().resolve(),
        edition=windows.EDITIONS[edition],
        password=password,
        name=name or "",
        disk_gib=disk_gib,
        memory_mib=memory_mib,
        vcpus=cpus,
        image_index=image_index,
        image_name=image_name,
        product_key=product_key,
        computer_name=computer_name,
        network=network,
    )
    seconds = windows.parse_duration(timeout)
    if dry_run:
        folder = out or Path(spec.image)
        files = windows.prepare(spec, folder, kvm=windows_build.kvm_available())
        disk.write_secrets(files.folder, password)
        console.print(f"answer ISO: {files.answer_iso}")
        console.print(f"domain XML: {files.domain_xml}")
        console.print(f"password:   {files.folder / disk.SECRETS_FILE} (mode 0600)")
        console.print(
            "nothing was started; to run it by hand: "
            f"qemu-img create -f qcow2 {files.disk} {spec.disk_gib}G && "
            f"virsh create {files.domain_xml}"
        )
        return
    from tai_labs.images.progress import BuildProgress

    with _progress_bar() as bar:
        task = bar.add_task(spec.image, total=100, step="")

        def show(p: BuildProgress) -> None:
            step = f"{p.step}: {p.detail}" if p.detail else p.step
            bar.update(task, completed=p.percent, step=step)

        folder = windows_build.WindowsImageBuilder().build(
            spec, timeout=seconds, progress=show, force=force
        )
    console.print(f"built {spec.image}: {folder / disk.DISK_FILE}")
    console.print(f"scenarios use it with `image: {spec.image}` on a Windows node")
