"""The ``sifuwu`` command: the embedded stack and the main job."""

import os
import signal
import sys
from pathlib import Path

import click
from rich.console import Console

from sifuwu.stack import ROOT, EmbeddedStack, StackError
from sifuwu.wiring import SERVICES

console = Console()


def embedded_stack():
    base = Path(os.environ.get("SIFUWU_HOME", ROOT / ".sifuwu"))
    return EmbeddedStack(base)


def fail(message):
    console.print(f"[red]错误:[/red] {message}")
    sys.exit(1)


@click.group()
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
    from sifuwu.stack import serve_command, serve_env
    command = serve_command(service)
    os.execve(command[0], command, serve_env(service, os.environ))


@main.command()
def demo():
    """Run the main job on the embedded stack (started if not running)."""
    from sifuwu import demo as story

    stack = embedded_stack()
    state = stack.running_state()
    owned = state is None

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        if owned:
            stack.start(progress=console.print)
            urls = {s: stack.url(s) for s in stack.ports.services}
        else:
            console.print("使用已在运行的栈。")
            urls = state["urls"]
        story.run(urls, console)
    except StackError as exc:
        fail(str(exc))
    except story.StoryError as exc:
        fail(f"演示失败: {exc}（日志见 {stack.base / 'logs'}）")
    except KeyboardInterrupt:
        console.print("已中断。")
        sys.exit(130)
    finally:
        if owned:
            console.print("停止演示启动的服务 …")
            stack.stop()


if __name__ == "__main__":
    main()
