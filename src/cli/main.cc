// trellisctl: the operator's CLI, a client of trellisd's HTTP/JSON API (docs/cli.md).
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "cli/api_client.h"
#include "cli/apply_diff.h"
#include "cli/canary.h"
#include "cli/cli_error.h"
#include "cli/get_delete.h"
#include "cli/history_rollback.h"
#include "cli/status_proxy_config.h"
#include "cli/token_cmd.h"
#include "cli/validate_cmd.h"

namespace {

using namespace trellis::cli;

constexpr const char* kDefaultServer = "http://127.0.0.1:7070";

void addFileOption(CLI::App* command, std::vector<std::string>& paths, const char* what) {
  command->add_option("-f,--filename", paths, what)->required()->allow_extra_args(false);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trellisctl: operate a Trellis mesh through trellisd's API"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the command
  std::string server = kDefaultServer;
  std::string token;
  std::string tokenFile;
  std::string output = "table";
  app.add_option("--server", server,
                 "trellisd API URL (default " + std::string(kDefaultServer) + ")")
      ->envname("TRELLIS_SERVER");
  app.add_option("--token", token, "API token for writes (trellisd's <data-dir>/api-token)")
      ->envname("TRELLIS_TOKEN");
  app.add_option("--token-file", tokenFile, "file holding the API token")
      ->envname("TRELLIS_TOKEN_FILE");
  app.add_option("-o,--output", output, "table (default), json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));

  ApplyOptions apply;
  auto* applyCmd =
      app.add_subcommand("apply", "Create or update resources from files (all or nothing)");
  addFileOption(applyCmd, apply.paths, "file or folder (*.yaml, *.yml, recursively); - for stdin");
  applyCmd->add_flag("--dry-run", apply.dryRun, "validate and report, change nothing");

  DiffOptions diff;
  auto* diffCmd =
      app.add_subcommand("diff", "Show what apply -f would change (exit 1 if anything)");
  addFileOption(diffCmd, diff.paths, "file or folder; - for stdin");

  ValidateOptions validate;
  auto* validateCmd = app.add_subcommand("validate", "Check files offline, without trellisd");
  addFileOption(validateCmd, validate.paths, "file or folder; - for stdin");

  GetOptions get;
  auto* getCmd = app.add_subcommand("get", "List resources, or show one");
  getCmd
      ->add_option("KIND", get.kind,
                   "httproutes (hr), grpcroutes (gr), services (svc), workloads (wl), "
                   "listeners (lis), backendpolicies (bp), routepolicies (rp), "
                   "authorizationpolicies (ap) or all; "
                   "KIND/NAME also works")
      ->required();
  getCmd->add_option("NAME", get.name, "resource name (all of them if left out)");
  getCmd->add_option("-n,--namespace", get.ns, "namespace (default \"default\")");
  getCmd->add_flag("-A,--all-namespaces", get.allNamespaces, "list across every namespace");

  DeleteOptions del;
  auto* deleteCmd = app.add_subcommand("delete", "Delete a resource, or those the files name");
  deleteCmd->add_option("KIND", del.kind, "resource kind (or KIND/NAME)");
  deleteCmd->add_option("NAME", del.name, "resource name");
  deleteCmd->add_option("-n,--namespace", del.ns, "namespace (default \"default\")");
  deleteCmd->add_option("-f,--filename", del.paths, "delete the resources these files define")
      ->allow_extra_args(false);
  deleteCmd->add_flag("--ignore-not-found", del.ignoreNotFound,
                      "a missing resource is not an error");

  auto* statusCmd =
      app.add_subcommand("status", "Proxies: connected, config versions ACKed or NACKed");

  ProxyConfigOptions proxyConfig;
  auto* proxyConfigCmd =
      app.add_subcommand("proxy-config", "What trellisd sent one proxy (summary; -o json: raw)");
  proxyConfigCmd
      ->add_option("SECTION", proxyConfig.section, "routes, clusters, endpoints or listeners")
      ->required()
      ->check(CLI::IsMember({"routes", "clusters", "endpoints", "listeners"}));
  proxyConfigCmd->add_option("PROXY_ID", proxyConfig.proxyId, "INSTANCE.NAMESPACE (see status)")
      ->required();

  HistoryOptions history;
  int64_t historyRevision = 0;
  auto* historyCmd = app.add_subcommand("history", "Revisions of one resource");
  historyCmd->add_option("KIND", history.kind, "resource kind (or KIND/NAME)")->required();
  historyCmd->add_option("NAME", history.name, "resource name");
  historyCmd->add_option("-n,--namespace", history.ns, "namespace (default \"default\")");
  auto* revisionOpt = historyCmd->add_option("--revision", historyRevision,
                                             "print the document as of this revision");

  RollbackOptions rollback;
  int64_t rollbackTo = 0;
  auto* rollbackCmd =
      app.add_subcommand("rollback", "Restore a resource's content from an earlier revision");
  rollbackCmd->add_option("KIND", rollback.kind, "resource kind (or KIND/NAME)")->required();
  rollbackCmd->add_option("NAME", rollback.name, "resource name");
  rollbackCmd->add_option("-n,--namespace", rollback.ns, "namespace (default \"default\")");
  auto* toOpt = rollbackCmd->add_option(
      "--to", rollbackTo, "revision to restore (default: the one before the current)");

  CanaryOptions canary;
  int canaryWeight = 0;
  int canaryPort = 0;
  auto* canaryCmd = app.add_subcommand(
      "canary", "Send a share of a Service's traffic to another Service (edits route weights)");
  canaryCmd->add_option("SERVICE", canary.service, "the stable Service")->required();
  canaryCmd->add_option("--to", canary.target, "the Service that receives the canary traffic");
  auto* weightOpt = canaryCmd->add_option("--weight", canaryWeight, "percentage for --to, 0-100");
  canaryCmd->add_flag("--promote", canary.promote, "send everything to --to, drop SERVICE");
  canaryCmd->add_flag("--abort", canary.abort, "drop --to, send everything back to SERVICE");
  auto* portOpt = canaryCmd->add_option("--port", canaryPort, "port of --to in backendRefs");
  canaryCmd->add_option("-n,--namespace", canary.ns, "namespace of both Services");
  canaryCmd->add_flag("--dry-run", canary.dryRun, "validate and report, change nothing");

  TokenCreateOptions tokenCreate;
  auto* tokenCmd = app.add_subcommand("token", "Join tokens: how a proxy gets its first identity");
  tokenCmd->require_subcommand(1);
  auto* tokenCreateCmd = tokenCmd->add_subcommand(
      "create", "A join token for one namespace and service account (prints the token)");
  tokenCreateCmd->add_option("-n,--namespace", tokenCreate.ns, "namespace (default \"default\")");
  tokenCreateCmd
      ->add_option("--service-account", tokenCreate.serviceAccount,
                   "service account: the identity is spiffe://<td>/ns/NS/sa/SA")
      ->required();
  tokenCreateCmd->add_option("--ttl", tokenCreate.ttl, "how long it is valid (default 1h)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : 2;  // usage errors: 2, as most CLIs (1 is "the command failed")
  }

  try {
    Io io;
    io.format = parseOutputFormat(output);
    if (*validateCmd) return runValidate(io, validate);

    if (token.empty() && !tokenFile.empty()) token = readTokenFile(tokenFile);
    ApiClient api(server, token);
    if (*applyCmd) return runApply(api, io, apply);
    if (*diffCmd) return runDiff(api, io, diff);
    if (*getCmd) return runGet(api, io, get);
    if (*deleteCmd) return runDelete(api, io, del);
    if (*statusCmd) return runStatus(api, io);
    if (*tokenCreateCmd) return runTokenCreate(api, io, tokenCreate);
    if (*proxyConfigCmd) return runProxyConfig(api, io, proxyConfig);
    if (*historyCmd) {
      if (revisionOpt->count() > 0) history.revision = historyRevision;
      return runHistory(api, io, history);
    }
    if (*rollbackCmd) {
      if (toOpt->count() > 0) rollback.to = rollbackTo;
      return runRollback(api, io, rollback);
    }
    if (*canaryCmd) {
      if (weightOpt->count() > 0) canary.weight = canaryWeight;
      if (portOpt->count() > 0) canary.port = canaryPort;
      return runCanary(api, io, canary);
    }
    return 2;
  } catch (const CliError& error) {
    std::cerr << "error: " << error.what() << "\n";
    return error.exitCode();
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\n";
    return 1;
  }
}
