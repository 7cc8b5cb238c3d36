"""The ``sifuwu`` command: the embedded stack and the main job."""

import os
import platform
import signal
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from tooling.login import LoginError
from tooling.stack import ROOT, EmbeddedStack, StackError
from sifuwu.wiring import SERVICES

# Output that is not a terminal is never wrapped: a long path stays on one line
# for the scripts and tests that read it. Errors go to stderr.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def embedded_stack():
    base = Path(os.environ.get("SIFUWU_HOME", ROOT / ".sifuwu"))
    return EmbeddedStack(base)


def fail(message):
    """Print ``message`` as an error on stderr and exit with status 1."""
    err_console.print(f"[red]错误:[/red] {escape(str(message))}")
    sys.exit(1)


def version_message():
    """``sifuwu --version``: the package's version and the Python running it."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        mine = version("sifuwu")
    except PackageNotFoundError:
        mine = "unknown (not installed)"
    return (f"sifuwu {mine} (Python {platform.python_version()}, "
            f"{sys.executable})")


def _print_version(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        click.echo(version_message())
        ctx.exit()


@click.group()
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="版本（及所用的 Python）")
def main():
    """sifuwu (四服务) operator commands."""


@main.group()
def embedded():
    """The embedded stack: local RabbitMQ, SecantusDB and the services."""


@embedded.command("up")
def embedded_up():
    """Start the stack in the background and print its URLs."""
    stack = embedded_stack()
    state = stack.running_state()
    if state:
        console.print("已在运行（未重复启动）:")
        _print_urls(state["urls"])
        return
    try:
        stack.start(progress=console.print)
    except StackError as exc:
        fail(str(exc))
    console.print("已启动:")
    _print_urls({s: stack.url(s) for s in stack.ports.services})
    console.print(f"RabbitMQ: {stack.amqp_uri}  管理界面: "
                  f"http://127.0.0.1:{stack.ports.amqp_management}")
    console.print(f"MongoDB (SecantusDB): {stack.mongo_uri}")


@embedded.command("down")
def embedded_down():
    """Stop everything the stack started."""
    stack = embedded_stack()
    stack.stop()
    console.print("已停止。")


@embedded.command("status")
def embedded_status():
    state = embedded_stack().running_state()
    if not state:
        console.print("未运行。")
        return
    _print_urls(state["urls"])


def _print_urls(urls):
    for service, url in urls.items():
        console.print(f"  {service:<11} {url}  ({url}/health)")


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
def serve(service):
    """Run one service with `nameko run` (the compose image's command)."""
    from tooling.stack import serve_command, serve_env
    command = serve_command(service)
    os.execve(command[0], command, serve_env(service, os.environ))


@main.command()
@click.option("--scale", type=float, default=None,
              help="City size: 1.0 = ~60 departments, 300 branches, 5,000 "
                   "members (default: the demo size, see docs).")
@click.option("--seed", type=int, default=2026, show_default=True,
              help="Seed of the generated city and year.")
@click.option("--activities-per-member", type=float, default=None,
              help="Service activities per member in the year.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              default=None, help="Where to write the HTML report "
              "(default .sifuwu/report/index.html).")
@click.option("--skeleton", is_flag=True,
              help="Only the walking skeleton (one activity, one rating).")
@click.option("--keep", is_flag=True,
              help="Keep the stack running afterwards, to sign in to the "
                   "console (工作台) with the login printed at the end.")
def demo(scale, seed, activities_per_member, report_path, skeleton, keep):
    """Run the main job on the embedded stack (started if not running)."""
    from tooling import demo as story

    stack = embedded_stack()
    state = stack.running_state()
    owned = state is None

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        if owned:
            prefix = stack.use_fresh_demo_databases()
            stack.start(progress=console.print)
            earlier = stack.drop_earlier_demo_databases()
            console.print(f"本次演示使用全新的数据库（前缀 {prefix}）"
                          + (f"，已删除此前演示的 {len(earlier)} 个数据库。"
                             if earlier else "。"))
            urls = {s: stack.url(s) for s in stack.ports.services}
            management = f"http://127.0.0.1:{stack.ports.amqp_management}"
        else:
            console.print("使用已在运行的栈。")
            urls = state["urls"]
            management = "http://127.0.0.1:{}".format(
                state["ports"]["amqp_management"])
        if skeleton:
            seen = story.run(urls, console)
        else:
            seen = story.run_story(
                urls, console=console, scale=scale, seed=seed,
                activities_per_member=activities_per_member,
                amqp_uri=stack.ingest_amqp_uri(), management=management,
                stack=stack if owned else None, restore_clock=not owned,
                report_path=report_path or (stack.base / "report"
                                            / "index.html"))
        if keep or not owned:
            unit_id = (seen.get("access") or {}).get("unit_id") or \
                seen.get("activity", {}).get("unit_id") or "u-fgw"
            console_login(urls, unit_id, stack)
        else:
            console.print(f"加 --keep 可在演示后保留栈，登录工作台 "
                          f"{urls['console']} 查看各角色所见。")
    except StackError as exc:
        fail(str(exc))
    except (story.StoryError, LoginError) as exc:
        fail(f"演示失败: {exc}（日志见 {stack.base / 'logs'}）")
    except KeyboardInterrupt:
        err_console.print("已中断。")
        sys.exit(130)
    finally:
        if owned and not keep:
            console.print("停止演示启动的服务 …")
            stack.stop()


def console_login(urls, unit_id, stack):
    """Print the console's address and a 单位党务干部 account of ``unit_id``
    made now for the reader (no TOTP needed); the 工委 account is the
    stack's first one."""
    import secrets

    from tooling.login import create_account
    from tooling.stack import staff_login_for
    admin = staff_login_for(urls)
    if admin is None:
        console.print(f"工作台：{urls['console']}")
        return
    name = f"demo-reader-{secrets.token_hex(2)}"
    password = secrets.token_urlsafe(12)
    create_account(admin, urls["identity"], name, "unit_staff", password,
                   unit_id=unit_id)
    console.print(f"工作台：{urls['console']}（栈仍在运行，./run down 停止）")
    console.print(f"  单位党务干部（{unit_id}）：用户名 {name}  密码 {password}")
    console.print(f"  工委：{stack.bootstrap_file}（用户名:密码:TOTP 密钥；"
                  "动态口令用任一 TOTP 应用生成）")



# -- operators: the compose stack (python-on-whales) ----------------------

def _compose_stack(files, project, cluster):
    try:
        from tooling.ops.compose import CLUSTER_FILE, ComposeError, ComposeStack
    except ImportError as exc:
        fail(f"sifuwu stack 需要 python-on-whales（{exc.name}）: "
             "pip install 'sifuwu[ops]'（./run setup 已安装）")
    chosen = list(files) or ([CLUSTER_FILE] if cluster else None)
    try:
        return ComposeStack(chosen, project_name=project)
    except ComposeError as exc:
        fail(str(exc))


def _compose_call(action):
    """Run one compose action; its errors become clear messages."""
    from python_on_whales.exceptions import DockerException

    from tooling.ops.compose import ComposeError
    try:
        return action()
    except ComposeError as exc:
        fail(str(exc))
    except DockerException as exc:
        detail = (exc.stderr or exc.stdout or "").strip()
        fail(f"docker compose 失败（退出码 {exc.return_code}）: "
             f"{' '.join(map(str, exc.docker_command))}"
             + (f"\n{detail}" if detail else ""))


def _parse_scales(values):
    scales = {}
    for value in values:
        service, _, count = value.partition("=")
        if service not in SERVICES or not count.isdigit():
            raise click.BadParameter(
                f"{value!r}: 格式为 服务=数量，服务为 {', '.join(SERVICES)}",
                param_hint="--scale")
        scales[service] = int(count)
    return scales


compose_options = [
    click.option("-f", "--file", "files", multiple=True,
                 type=click.Path(dir_okay=False),
                 help="compose 文件（可重复；默认 docker-compose.yml）"),
    click.option("-p", "--project-name", "project", default=None,
                 help="compose 项目名"),
    click.option("--cluster", is_flag=True,
                 help="使用集群文件 docker-compose.cluster.yml"),
]


def with_compose_options(fn):
    for option in reversed(compose_options):
        fn = option(fn)
    return fn


@main.group()
def stack():
    """The production stack with docker compose (python-on-whales)."""


@stack.command("up")
@with_compose_options
@click.option("--scale", "scale", multiple=True, metavar="SERVICE=N",
              help="实例数，如 --scale notify=3（可重复）")
@click.option("--build", is_flag=True, help="先构建镜像")
def stack_up(files, project, cluster, scale, build):
    """Start (or update) the stack and wait until it is healthy."""
    scales = _parse_scales(scale)
    compose = _compose_stack(files, project, cluster)

    def action():
        with console.status("docker compose up（等待健康检查）…"):
            for line in compose.up(scales=scales, build=build):
                console.print(line.rstrip("\n"), markup=False,
                              highlight=False)
    _compose_call(action)
    console.print("[green]已启动[/green]"
                  + (f"（{', '.join(f'{k}={v}' for k, v in scales.items())}）"
                     if scales else ""))


@stack.command("down")
@with_compose_options
@click.option("--volumes", is_flag=True,
              help="同时删除数据卷（数据将丢失！）")
def stack_down(files, project, cluster, volumes):
    """Stop and remove the stack's containers."""
    compose = _compose_stack(files, project, cluster)

    def action():
        with console.status("docker compose down …"):
            for line in compose.down(volumes=volumes):
                console.print(line.rstrip("\n"), markup=False,
                              highlight=False)
    _compose_call(action)
    console.print("已停止。")


@stack.command("ps")
@with_compose_options
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
def stack_ps(files, project, cluster, as_json):
    """The stack's containers and their state."""
    import json

    from rich.table import Table
    compose = _compose_stack(files, project, cluster)
    containers = _compose_call(compose.ps)
    if as_json:
        click.echo(json.dumps(containers, ensure_ascii=False, indent=2))
        return
    if not containers:
        console.print("没有容器（栈未启动）。")
        return
    table = Table("服务", "容器", "状态", "健康", "端口")
    for c in containers:
        table.add_row(c.get("Service", ""), c.get("Name", ""),
                      c.get("State", ""), c.get("Health", "") or "-",
                      c.get("Ports", "") or "-")
    console.print(table)


@stack.command("logs")
@with_compose_options
@click.argument("services", nargs=-1)
@click.option("--follow", "-F", is_flag=True, help="持续输出")
@click.option("--tail", default=None, help="每个容器只看最后 N 行")
def stack_logs(files, project, cluster, services, follow, tail):
    """Logs of some (default: all) services."""
    compose = _compose_stack(files, project, cluster)

    def action():
        for line in compose.logs(services, follow=follow, tail=tail):
            click.echo(line, nl=False)
    try:
        _compose_call(action)
    except KeyboardInterrupt:
        pass


@stack.command("config")
@with_compose_options
def stack_config(files, project, cluster):
    """The resolved compose file (variables and merges applied)."""
    import json
    compose = _compose_stack(files, project, cluster)
    config = _compose_call(compose.config)
    click.echo(json.dumps(config, ensure_ascii=False, indent=2))


@stack.command("health")
@with_compose_options
@click.option("--embedded/--compose", "embedded_mode", default=None,
              help="检查嵌入式栈或 compose 栈（默认: 嵌入式栈在运行则用它）")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
@click.option("--timeout", default=3.0, show_default=True,
              help="每个 /health 请求的超时（秒）")
def stack_health(files, project, cluster, embedded_mode, as_json, timeout):
    """Every service's /health as a table; exit 1 if any is unhealthy."""
    from rich.table import Table

    from tooling.ops import health
    state = health.embedded_state() if embedded_mode is not False else None
    if embedded_mode and not state:
        fail(f"嵌入式栈未运行（{health.sifuwu_home() / 'stack.json'} 不存在"
             "或进程已退出）。用 ./run up 启动。")
    if state:
        where = "嵌入式栈"
        with console.status("检查 /health …"):
            rows = health.embedded_health(state["urls"], timeout)
    else:
        where = "compose 栈"
        compose = _compose_stack(files, project, cluster)
        with console.status("检查 /health …"):
            rows = _compose_call(
                lambda: health.compose_health(compose, SERVICES, timeout))
    if as_json:
        click.echo(health.rows_as_json(rows))
    else:
        table = Table("服务", "实例", "地址", "状态", "broker", "store",
                      "版本", "耗时", title=f"{where} 健康检查")
        for row in rows:
            colour = "green" if row.healthy else "red"
            table.add_row(
                row.service, row.instance, row.url or "-",
                f"[{colour}]{row.status}[/{colour}]", row.broker, row.store,
                row.version,
                f"{row.seconds * 1000:.0f} ms" if row.seconds else "-")
        console.print(table)
    if not rows or not all(row.healthy for row in rows):
        sys.exit(1)


# -- operators: addresses of the broker and the store ----------------------

def _resolve(option, env_name, state_key):
    """An explicit option, else the environment, else the running embedded
    stack's recorded value, else the built-in default."""
    if option:
        return option
    if os.environ.get(env_name):
        return os.environ[env_name]
    from tooling.ops import health
    state = health.embedded_state()
    if state and state.get(state_key):
        return state[state_key]
    from sifuwu.settings import Settings
    return {"amqp_uri": Settings().amqp_uri, "mongo_uri": Settings().mongo_uri,
            "db_prefix": Settings().db_prefix}[state_key]


amqp_option = click.option("--amqp-uri", default=None,
                           help="默认: $AMQP_URI 或运行中的嵌入式栈")


# -- operators: dead letters ------------------------------------------------

def _dead_letter_queues(amqp_uri):
    from tooling.ops.dlq import DeadLetterQueues
    return DeadLetterQueues(_resolve(amqp_uri, "AMQP_URI", "amqp_uri"))


def _dlq_call(action):
    from tooling.ops.dlq import DeadLetterError
    try:
        return action()
    except DeadLetterError as exc:
        fail(str(exc))


def _queue_choice():
    from tooling.ops.dlq import QUEUES
    return click.Choice(QUEUES)


@main.group()
def dlq():
    """Dead letters: list, replay after a fix, purge."""


@dlq.command("list")
@amqp_option
@click.option("--queue", "queues", multiple=True, type=_queue_choice(),
              help="只看这个队列（默认两个死信队列都看）")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON")
def dlq_list(amqp_uri, queues, as_json):
    """Rejected and failed messages with their reasons (not consumed)."""
    import json

    from rich.table import Table

    from tooling.ops.dlq import QUEUES
    letters = _dead_letter_queues(amqp_uri)
    counts = _dlq_call(letters.counts)
    result = {}
    for queue in queues or QUEUES:
        result[queue] = (None if counts.get(queue) is None
                         else _dlq_call(lambda q=queue: letters.list(q)))
    if as_json:
        click.echo(json.dumps(
            {q: (None if items is None else [i.summary() for i in items])
             for q, items in result.items()}, ensure_ascii=False, indent=2))
        return
    for queue, items in result.items():
        if items is None:
            console.print(f"[bold]{queue}[/bold]: 队列不存在（尚无死信）")
            continue
        if counts[queue] > len(items):
            err_console.print(f"[yellow]{queue} 共 {counts[queue]} 条，只列出前 "
                              f"{len(items)} 条[/yellow]（replay --all 和 "
                              "purge 处理全部）")
        table = Table("编号", "原因", "服务", "原交换机 / 路由键", "内容预览",
                      title=f"{queue}（{len(items)} 条）")
        for item in items:
            table.add_row(item.key, item.reason, item.service or "-",
                          f"{item.exchange or '-'} / {item.routing_key or '-'}",
                          item.preview)
        console.print(table)


@dlq.command("replay")
@amqp_option
@click.option("--queue", default="sifuwu.dead-letters", show_default=True,
              type=_queue_choice())
@click.option("--id", "keys", multiple=True,
              help="要重放的消息编号（dlq list 的“编号”，可重复）")
@click.option("--all", "replay_all", is_flag=True, help="重放队列中全部消息")
def dlq_replay(amqp_uri, queue, keys, replay_all):
    """Re-publish chosen messages to their original exchange and routing
    key (after the cause is fixed). Consumers dedupe on event_id."""
    if not keys and not replay_all:
        raise click.UsageError("请用 --id 选择消息，或用 --all 重放全部。")
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                               TextColumn, TimeRemainingColumn)
    letters = _dead_letter_queues(amqp_uri)
    # the bar on stderr (stdout keeps the results); hidden off a terminal
    with Progress(TextColumn("重放 {task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task(queue, total=None)
        replayed, skipped = _dlq_call(lambda: letters.replay(
            queue, None if replay_all else keys,
            progress=lambda done, total: bar.update(task, completed=done,
                                                    total=total)))
    if replay_all and len(replayed) > 20:
        routes = {}
        for item in replayed:
            route = f"{item.exchange} / {item.routing_key}"
            routes[route] = routes.get(route, 0) + 1
        for route, count in sorted(routes.items()):
            console.print(f"已重放 {count} 条 → {route}")
    else:
        for item in replayed:
            console.print(f"已重放 {item.key} → {item.exchange} "
                          f"/ {item.routing_key}")
    for item, why in skipped:
        err_console.print(f"[yellow]跳过[/yellow] {item.key}: {why}")
    missing = set(keys) - {i.key for i in replayed} - {
        i.key for i, _ in skipped}
    for key in sorted(missing):
        err_console.print(f"[yellow]未找到[/yellow] {key}")
    console.print(f"共重放 {len(replayed)} 条。")
    if skipped or missing:
        sys.exit(1)


@dlq.command("purge")
@amqp_option
@click.option("--queue", default="sifuwu.dead-letters", show_default=True,
              type=_queue_choice())
@click.option("--id", "keys", multiple=True,
              help="只删除这些编号的消息（默认删除全部）")
@click.option("--yes", is_flag=True, help="不再询问，直接删除")
def dlq_purge(amqp_uri, queue, keys, yes):
    """Drop dead letters for good (asks first unless --yes)."""
    what = f"{len(keys)} 条指定消息" if keys else "全部消息"
    if not yes and not click.confirm(
            f"将永久删除 {queue} 中的{what}，确定吗？", default=False):
        err_console.print("未删除任何消息。")
        sys.exit(1)
    letters = _dead_letter_queues(amqp_uri)
    dropped = _dlq_call(lambda: letters.purge(queue, list(keys) or None))
    console.print(f"已删除 {dropped} 条。")


# -- operators: backups ------------------------------------------------------

mongo_options = [
    click.option("--mongo-uri", default=None,
                 help="默认: $MONGO_URI 或运行中的嵌入式栈"),
    click.option("--prefix", default=None,
                 help="数据库名前缀（默认: $SIFUWU_DB_PREFIX 或 sifuwu_）"),
]


def with_mongo_options(fn):
    for option in reversed(mongo_options):
        fn = option(fn)
    return fn


def _backup_call(action):
    from pymongo.errors import PyMongoError

    from tooling.ops.backup import BackupError
    try:
        return action()
    except BackupError as exc:
        fail(str(exc))
    except PyMongoError as exc:
        fail(f"数据库操作失败: {type(exc).__name__}: {exc}。"
             "检查 MONGO_URI 或 --mongo-uri。")


@main.command()
@with_mongo_options
@click.option("--output", "-o", default="backups", show_default=True,
              type=click.Path(file_okay=False), help="备份文件所在目录")
def backup(mongo_uri, prefix, output):
    """Write every service's database to a dated archive."""
    from tooling.ops import backup as backups
    mongo_uri = _resolve(mongo_uri, "MONGO_URI", "mongo_uri")
    prefix = _resolve(prefix, "SIFUWU_DB_PREFIX", "db_prefix")
    with console.status("备份中 …") as status:
        path, manifest = _backup_call(lambda: backups.backup(
            mongo_uri, prefix, output,
            progress=lambda s, c, n: status.update(f"备份 {s}.{c}（{n} 条）")))
    total = sum(n for entry in manifest["services"].values()
                for n in entry["collections"].values())
    console.print(f"已备份 {len(manifest['services'])} 个服务、{total} 条文档: "
                  f"{path}")
    click.echo(str(path))


@main.command()
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@with_mongo_options
@click.option("--replace", is_flag=True,
              help="覆盖目标中已有的数据（先清空对应集合）")
def restore(archive, mongo_uri, prefix, replace):
    """Bring an archive written by `sifuwu backup` back."""
    from tooling.ops import backup as backups
    mongo_uri = _resolve(mongo_uri, "MONGO_URI", "mongo_uri")
    prefix = _resolve(prefix, "SIFUWU_DB_PREFIX", "db_prefix")
    with console.status("恢复中 …") as status:
        restored = _backup_call(lambda: backups.restore(
            archive, mongo_uri, prefix, replace=replace,
            progress=lambda s, c, n: status.update(f"恢复 {s}.{c}（{n} 条）")))
    total = sum(sum(c.values()) for c in restored.values())
    console.print(f"已恢复 {len(restored)} 个服务、{total} 条文档"
                  f"（前缀 {prefix}）。")


if __name__ == "__main__":
    main()
