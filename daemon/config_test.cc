#include "daemon/config.h"

#include <gtest/gtest.h>

namespace pagoda::daemon {
namespace {

TEST(DaemonConfig, ReadsEveryFieldWithPathsRelativeToTheFile) {
  auto config = ParseDaemonConfig(R"(repo: https://git.example.com/platform/apps.git
ref: release
path: deploy
interval: 10s
driftInterval: 2m
stateDir: state
auth: {tokenFile: secrets/token, username: bot}
clusters:
  test: {kubeconfig: test.kubeconfig, context: kind-test}
  prod: {inCluster: true}
  dev:
qps: 20
burst: 40
http: {listen: "0.0.0.0:9420", webhookSecretFile: /etc/pagoda/hook}
log: {format: json}
)",
                                  "/etc/pagoda/config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->repo, "https://git.example.com/platform/apps.git");
  EXPECT_EQ(config->ref, "release");
  EXPECT_EQ(config->path, "deploy");
  EXPECT_EQ(config->interval_ms, 10000);
  EXPECT_EQ(config->drift_interval_ms, 120000);
  EXPECT_EQ(config->state_dir, "/etc/pagoda/state");
  EXPECT_EQ(config->JournalPath(), "/etc/pagoda/state/journal");
  EXPECT_EQ(config->auth.password_file, "/etc/pagoda/secrets/token");
  EXPECT_EQ(config->auth.username, "bot");
  EXPECT_EQ(config->clusters.at("test").kubeconfig, "/etc/pagoda/test.kubeconfig");
  EXPECT_EQ(config->clusters.at("test").context, "kind-test");
  EXPECT_TRUE(config->clusters.at("prod").in_cluster);
  EXPECT_TRUE(config->clusters.count("dev"));
  EXPECT_EQ(config->qps, 20);
  EXPECT_EQ(config->burst, 40);
  EXPECT_TRUE(config->rate_limit_given);
  EXPECT_EQ(config->http_listen, "0.0.0.0:9420");
  EXPECT_EQ(config->log_format, "json");
}

TEST(DaemonConfig, TenancyReservesNamesAndGrantsPodSecurity) {
  auto config = ParseDaemonConfig(R"(repo: /srv/apps
reservedNamespaces: [monitoring, "team-*"]
podSecurity: {default: baseline, apps: {infra-x: privileged}}
)",
                                  "/etc/pagoda/config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->reserved_namespaces, (std::vector<std::string>{"monitoring", "team-*"}));
  EXPECT_EQ(config->pod_security.For("infra-x"), manifest::PodSecurityLevel::kPrivileged);
  EXPECT_EQ(config->pod_security.For("shop"), manifest::PodSecurityLevel::kBaseline);

  auto defaults = ParseDaemonConfig("repo: /srv/apps\n", "/etc/pagoda/config.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->reserved_namespaces.empty());
  EXPECT_EQ(defaults->pod_security.For("x"), manifest::PodSecurityLevel::kBaseline);

  auto restricted = ParseDaemonConfig("repo: /srv/apps\npodSecurity: {apps: {x: restricted}}\n",
                                      "/etc/pagoda/config.yaml");
  EXPECT_EQ(restricted.status().message(),
            "/etc/pagoda/config.yaml:2:25: podSecurity.apps.x: expected baseline or privileged");
  auto empty =
      ParseDaemonConfig("repo: /srv/apps\nreservedNamespaces: [\"\"]\n", "/etc/pagoda/config.yaml");
  EXPECT_FALSE(empty.ok());
}

TEST(DaemonConfig, DefaultsAndLocalRepoPaths) {
  auto config = ParseDaemonConfig("repo: ../apps\n", "/srv/pagoda/config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->repo, "/srv/apps");
  EXPECT_EQ(config->ref, "main");
  EXPECT_FALSE(config->rate_limit_given);  // lifted where the server paces its clients
  EXPECT_EQ(config->interval_ms, 30000);
  EXPECT_EQ(config->drift_interval_ms, 300000);
  EXPECT_EQ(config->state_dir, "/var/lib/pagoda");
  EXPECT_EQ(ParseDaemonConfig("repo: git@host:team/apps.git\n", "/c.yaml")->repo,
            "git@host:team/apps.git");
}

TEST(DaemonConfig, ErrorsNameFileLineAndField) {
  struct Case {
    std::string text, message;
  } cases[] = {
      {"repo: x\nintervall: 5s\n", "/c.yaml:2:1: intervall: unknown field"},
      {"repo: x\ninterval: soon\n", "/c.yaml:2:11: interval:"},
      {"repo: x\ninterval: 10ms\n", "interval: must be at least 1000ms"},
      {"repo: x\nauth: {sshkey: k}\n", "auth.sshkey: unknown field"},
      {"repo: x\nclusters:\n  prod: {kubecfg: a}\n",
       "/c.yaml:3:10: clusters.prod.kubecfg: unknown field"},
      {"repo: x\nlog: {format: xml}\n", "log.format: expected auto, text or json"},
      {"repo: x\nburst: 0\n", "burst: must be at least 1"},
      {"ref: main\n", "repo: required"},
      {"repo: [unclosed\n", "/c.yaml:2:1"},
      // What the bounded YAML reader refuses, and shapes.
      {"", "/c.yaml:1:1: (top): expected a mapping"},
      {"- repo\n", "/c.yaml:1:1: (top): expected a mapping"},
      {"repo: /srv/a\n---\nrepo: /srv/b\n", "/c.yaml:3:1: (top): a config file is one YAML"},
      {"base: &b {inCluster: true}\nrepo: /srv/a\n<<: *b\n", "/c.yaml:3:1: merge keys"},
      {"repo: !!binary aGk=\n", "/c.yaml:1:7: the tag"},
      {"repo: x\nqps: fast\n", "/c.yaml:2:6: qps: expected a number"},
      {"repo: x\nburst: 1.5\n", "/c.yaml:2:8: burst: expected a number"},
      {"repo: x\nref:\n", "/c.yaml:2:1: ref: expected a string"},
      {"repo: x\ngates: {prometheus: prometheus:9090}\n",
       "/c.yaml:2:21: gates.prometheus: expected an http:// or https:// URL"},
      {"repo: x\ngates: {webhooks: {Smoke: http://ci}}\n",
       "/c.yaml:2:20: gates.webhooks.Smoke: a webhook's name must be a DNS label"},
      {"repo: x\ngates: {webhooks: {smoke: file:///etc/passwd}}\n",
       "gates.webhooks.smoke: expected an http:// or https:// URL"},
      {"repo: x\ngates: {timeout: 10ms}\n", "timeout: must be at least 1000ms"},
      {"repo: x\ngates: {webhooks: {bot: {secretFile: s}}}\n", "gates.webhooks.bot.url: required"},
      {"repo: x\ngates: {webhooks: {bot: {url: 'http://b', retries: 11}}}\n",
       "gates.webhooks.bot.retries: at most 10"},
      {"repo: x\ngates: {webhooks: {bot: {url: 'http://b', secret: s}}}\n",
       "gates.webhooks.bot.secret: unknown field"},
      {"repo: x\ngates: {prometeus: http://p}\n", "gates.prometeus: unknown field"},
  };
  for (const auto& c : cases) {
    auto config = ParseDaemonConfig(c.text, "/c.yaml");
    ASSERT_FALSE(config.ok()) << c.text;
    EXPECT_NE(config.status().message().find(c.message), std::string::npos)
        << config.status().message();
  }
}

TEST(DaemonConfig, HaNamesTheLeaseItsTimingAndShardsAndReleasesTheMirror) {
  auto config = ParseDaemonConfig(R"(repo: /srv/apps
clusters:
  prod: {inCluster: true}
ha:
  lease: {cluster: prod, namespace: ops, name: release-leader, leaseDuration: 6s,
          renewDeadline: 4s, retryPeriod: 1s}
  shards: 4
  identity: pagoda-0
releases: {mirror: false, historyLimit: 20}
)",
                                  "/etc/pagoda/config.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_TRUE(config->ha.enabled);
  EXPECT_EQ(config->ha.cluster, "prod");
  EXPECT_EQ(config->ha.lease_namespace, "ops");
  EXPECT_EQ(config->ha.lease_name, "release-leader");
  EXPECT_EQ(config->ha.lease_ms, 6000);
  EXPECT_EQ(config->ha.renew_deadline_ms, 4000);
  EXPECT_EQ(config->ha.retry_ms, 1000);
  EXPECT_EQ(config->ha.shards, 4);
  EXPECT_EQ(config->ha.identity, "pagoda-0");
  EXPECT_FALSE(config->mirror.enabled);
  EXPECT_EQ(config->mirror.history_limit, 20);

  // client-go's defaults; one Lease; the mirror on, 100 kept.
  auto defaults = ParseDaemonConfig(
      "repo: /srv/apps\nclusters: {prod: {inCluster: true}}\nha: {lease: {cluster: prod}}\n",
      "/etc/pagoda/config.yaml");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_EQ(defaults->ha.lease_namespace, "pagoda-system");
  EXPECT_EQ(defaults->ha.lease_name, "pagoda");
  EXPECT_EQ(defaults->ha.lease_ms, 15000);
  EXPECT_EQ(defaults->ha.renew_deadline_ms, 10000);
  EXPECT_EQ(defaults->ha.retry_ms, 2000);
  EXPECT_EQ(defaults->ha.shards, 1);
  EXPECT_TRUE(defaults->mirror.enabled);
  EXPECT_EQ(defaults->mirror.history_limit, 100);
  auto alone = ParseDaemonConfig("repo: /srv/apps\n", "/etc/pagoda/config.yaml");
  ASSERT_TRUE(alone.ok());
  EXPECT_FALSE(alone->ha.enabled);
}

TEST(DaemonConfig, HaErrorsNameFileLineAndField) {
  const std::string head = "repo: x\nclusters: {prod: {inCluster: true}}\n";
  struct Case {
    std::string text, message;
  } cases[] = {
      {"ha: {shards: 2}\n", "/c.yaml:3:5: ha.lease: required"},
      {"ha: {lease: {name: p}}\n", "ha.lease.cluster: required"},
      {"ha: {lease: {cluster: test}}\n",
       "/c.yaml:3:23: ha.lease.cluster: test is not one of clusters (prod)"},
      {"ha: {lease: {cluster: prod, namespace: Pagoda}}\n", "ha.lease.namespace:"},
      {"ha: {lease: {cluster: prod, name: a.b}}\n", "ha.lease.name:"},
      {"ha: {lease: {cluster: prod, leaseDuration: 10s}}\n",
       "ha.lease.leaseDuration: must be longer than renewDeadline"},
      {"ha: {lease: {cluster: prod, renewDeadline: 2s}}\n",
       "ha.lease.renewDeadline: must be longer than 1.2 x retryPeriod"},
      {"ha: {lease: {cluster: prod, retryPeriod: 10ms}}\n",
       "ha.lease.retryPeriod: must be at least 100ms"},
      {"ha: {lease: {cluster: prod}, shards: 0}\n", "ha.shards: must be at least 1"},
      {"ha: {lease: {cluster: prod}, shards: 5000}\n", "ha.shards: at most 1024"},
      {"ha: {lease: {cluster: prod}, replicas: 2}\n", "ha.replicas: unknown field"},
      {"ha: {lease: {cluster: prod, holder: me}}\n", "ha.lease.holder: unknown field"},
      {"ha: {lease: {cluster: prod}, identity: Pod_0}\n", "ha.identity:"},
      {"releases: {historyLimit: 0}\n", "releases.historyLimit: must be at least 1"},
      {"releases: {mirror: yes}\n", "releases.mirror: expected true or false"},
  };
  for (const auto& c : cases) {
    auto config = ParseDaemonConfig(head + c.text, "/c.yaml");
    ASSERT_FALSE(config.ok()) << c.text;
    EXPECT_NE(config.status().message().find(c.message), std::string::npos)
        << c.text << " -> " << config.status().message();
  }
}

TEST(DaemonConfig, GatesNameTheirEndpointsAndTheRepositoryOnlyTheirNames) {
  auto config = ParseDaemonConfig(
      "repo: x\ngates:\n  prometheus: http://prometheus.monitoring:9090/\n"
      "  webhooks:\n    smoke: 'https://ci.example.com/hooks/smoke?x=1'\n"
      "    bot: {url: 'https://bot.example.com/gate', secretFile: bot-secret, retries: 2}\n"
      "  timeout: 5s\n",
      "/c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->gates.prometheus, "http://prometheus.monitoring:9090");
  EXPECT_EQ(config->gates.webhooks.at("smoke").url, "https://ci.example.com/hooks/smoke?x=1");
  EXPECT_EQ(config->gates.webhooks.at("smoke").retries, 0);
  EXPECT_EQ(config->gates.webhooks.at("bot").url, "https://bot.example.com/gate");
  EXPECT_EQ(config->gates.webhooks.at("bot").secret_file, "/bot-secret") << "relative to the file";
  EXPECT_EQ(config->gates.webhooks.at("bot").retries, 2);
  EXPECT_EQ(config->gates.timeout_ms, 5000);
  manifest::LoadOptions options;
  ApplyRepositoryConfig(*config, &options);
  ASSERT_TRUE(options.gate_webhooks.has_value());
  EXPECT_EQ(*options.gate_webhooks, (std::vector<std::string>{"bot", "smoke"}));
  EXPECT_TRUE(options.gate_prometheus);
  EXPECT_EQ(ParseDaemonConfig("repo: x\n", "/c.yaml")->gates.timeout_ms, 10'000);
}

TEST(DaemonConfig, NotificationsNameTheirReceiversAndWhatEachWants) {
  auto config = ParseDaemonConfig(
      "repo: x\nnotifications:\n  receivers:\n"
      "    chat: {type: slack, urlFile: slack-url}\n"
      "    ops: {type: dingtalk, url: 'https://oapi.dingtalk.com/robot/send?access_token=t',\n"
      "          secretFile: ding, events: [failed, rolled-back], apps: ['pay*'], envs: [prod]}\n"
      "    commits: {type: gitea, url: 'https://git.example/api/v1/', repo: platform/apps,\n"
      "              tokenFile: /etc/pagoda/gitea-token, targetUrl: 'https://pagoda.example/'}\n"
      "  timeout: 3s\n  deadline: 2m\n",
      "/etc/pagoda/c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  const auto& receivers = config->notifications.receivers;
  ASSERT_EQ(receivers.size(), 3u);
  EXPECT_EQ(receivers.at("chat").type, notify::ReceiverType::kSlack);
  EXPECT_EQ(receivers.at("chat").url_file, "/etc/pagoda/slack-url");
  EXPECT_EQ(receivers.at("ops").secret_file, "/etc/pagoda/ding");
  EXPECT_EQ(
      receivers.at("ops").events,
      (std::vector<notify::EventKind>{notify::EventKind::kFailed, notify::EventKind::kRolledBack}));
  EXPECT_EQ(receivers.at("ops").apps, std::vector<std::string>{"pay*"});
  EXPECT_EQ(receivers.at("commits").url, "https://git.example/api/v1");
  EXPECT_EQ(receivers.at("commits").repo, "platform/apps");
  EXPECT_EQ(config->notifications.timeout_ms, 3000);
  EXPECT_EQ(config->notifications.deadline_ms, 120'000);
}

TEST(DaemonConfig, NotificationErrorsNameFileLineAndField) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"repo: x\nnotifications: {receivers: {chat: {url: 'http://c'}}}\n",
       "/c.yaml:2:35: notifications.receivers.chat.type: required"},
      {"repo: x\nnotifications: {receivers: {chat: {type: teams, url: 'http://c'}}}\n",
       "notifications.receivers.chat.type: \"teams\" is not a receiver type: use one of generic, "
       "slack, dingtalk, feishu, wecom, github, gitlab, gitea"},
      {"repo: x\nnotifications: {receivers: {chat: {type: slack}}}\n",
       "notifications.receivers.chat.url: give url or urlFile"},
      {"repo: x\nnotifications: {receivers: {chat: {type: slack, url: 'http://c', urlFile: f}}}\n",
       "give url or urlFile"},
      {"repo: x\nnotifications: {receivers: {chat: {type: slack, url: 'file:///x'}}}\n",
       "notifications.receivers.chat.url: expected an http:// or https:// URL"},
      {"repo: x\nnotifications: {receivers: {chat: {type: slack, url: 'http://c', secretFile: "
       "s}}}\n",
       "notifications.receivers.chat.secretFile: slack messages are not signed"},
      {"repo: x\nnotifications: {receivers: {gh: {type: github, url: 'https://api.github.com'}}}\n",
       "notifications.receivers.gh.repo: required for commit statuses"},
      {"repo: x\nnotifications: {receivers: {gh: {type: github, url: 'https://a', repo: a/b}}}\n",
       "notifications.receivers.gh.tokenFile: required for commit statuses"},
      {"repo: x\nnotifications: {receivers: {chat: {type: slack, url: 'http://c', repo: a/b}}}\n",
       "repo, tokenFile and targetUrl are for commit statuses"},
      {"repo: x\nnotifications: {receivers: {chat: {type: slack, url: 'http://c', events: "
       "[done]}}}\n",
       "notifications.receivers.chat.events: \"done\" is not an event"},
      {"repo: x\nnotifications: {receivers: {Chat: {type: slack, url: 'http://c'}}}\n",
       "notifications.receivers.Chat: a receiver's name must be a DNS label"},
      {"repo: x\nnotifications: {receivers: {chat: {type: slack, url: 'http://c', env: [p]}}}\n",
       "notifications.receivers.chat.env: unknown field"},
      {"repo: x\nnotifications: {receiver: {}}\n", "notifications.receiver: unknown field"},
  };
  for (const auto& c : cases) {
    auto config = ParseDaemonConfig(c.text, "/c.yaml");
    ASSERT_FALSE(config.ok()) << c.text;
    EXPECT_NE(config.status().message().find(c.message), std::string::npos)
        << config.status().message();
  }
}

TEST(DaemonConfig, DuplicateKeysAreErrorsNamingFileAndLine) {
  auto top = ParseDaemonConfig("repo: /srv/a\ninterval: 10s\nrepo: /srv/b\n", "/c.yaml");
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(top.status().message(), "/c.yaml:3:1: duplicate key \"repo\" (first at line 1)");
  auto nested = ParseDaemonConfig(
      "repo: /srv/a\nclusters:\n  prod:\n    inCluster: true\n    inCluster: false\n", "/c.yaml");
  ASSERT_FALSE(nested.ok());
  EXPECT_EQ(nested.status().message(),
            "/c.yaml:5:5: duplicate key \"inCluster\" (first at line 4)");
  auto clusters = ParseDaemonConfig("repo: /srv/a\nclusters: {prod: {}, prod: {}}\n", "/c.yaml");
  ASSERT_FALSE(clusters.ok());
  EXPECT_EQ(clusters.status().message().rfind("/c.yaml:2:", 0), 0u) << clusters.status().message();
}

TEST(DaemonConfig, AliasesAndNumberForms) {
  auto config = ParseDaemonConfig("repo: &r /srv/a\npath: *r\nqps: 0.5\nburst: 0x10\n", "/c.yaml");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->path, "/srv/a");
  EXPECT_EQ(config->qps, 0.5);
  EXPECT_EQ(config->burst, 16);
}

}  // namespace
}  // namespace pagoda::daemon
