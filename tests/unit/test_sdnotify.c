/* sd_notify: the datagram reaches a socket named by NOTIFY_SOCKET (path and abstract forms). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/sdnotify.h"

static int bind_dgram(const char *name, int abstract)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(sa.sun_path + (abstract ? 1 : 0), name, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (abstract ? 1 : 0));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    return fd;
}

static void test_no_socket_is_a_noop(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(p2n_sd_notify("READY=1"), 0);
}

static void test_path_socket(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/p2n-sdn-%d", (int)getpid());
    unlink(path);
    int fd = bind_dgram(path, 0);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(p2n_sd_notify("READY=1"), 1);
    char buf[64] = {0};
    assert_int_equal(recv(fd, buf, sizeof(buf) - 1, 0), 7);
    assert_string_equal(buf, "READY=1");
    close(fd);
    unlink(path);
    unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "p2n-sdn-abs-%d", (int)getpid());
    int fd = bind_dgram(name, 1);
    char env[80];
    snprintf(env, sizeof(env), "@%s", name);
    setenv("NOTIFY_SOCKET", env, 1);
    assert_int_equal(p2n_sd_notify("STOPPING=1"), 1);
    char buf[64] = {0};
    assert_int_equal(recv(fd, buf, sizeof(buf) - 1, 0), 10);
    assert_string_equal(buf, "STOPPING=1");
    close(fd);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_true(p2n_sd_notify("READY=1") < 0);
    unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void **state)
{
    (void)state;
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(p2n_sd_watchdog_ms(), 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    unsetenv("WATCHDOG_PID");
    assert_int_equal(p2n_sd_watchdog_ms(), 30000);
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(p2n_sd_watchdog_ms(), 0); /* meant for another process */
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_socket_is_a_noop),
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_watchdog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
