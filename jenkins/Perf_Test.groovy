// Example Jenkins pipeline for perf-run: parameters -> environment -> ONE perf-run command.
// It replaces the legacy jenkins_test/Perf_Test.groovy + sync_and_run.sh + run_*_test.sh chain
// (reference §1.1). perf-run itself syncs the checkout to the cluster over one ssh connection,
// submits, watches, collects, writes JUnit and the report, judges regressions and uploads to
// TRT_perf.
//
// Setup on the agent (once):
//   - perf-run installed (README "Install": the Debian package or `cargo install --locked`).
//   - The login node's host key in the agent user's ~/.ssh/known_hosts (perf-run checks host
//     keys strictly): `ssh-keyscan -H login.example.com >> ~/.ssh/known_hosts`, checked by hand.
//
// Safety rules this file follows:
//   - Build parameters reach the shell ONLY through the environment (Jenkins exports every
//     parameter as an environment variable). The `sh` scripts below are single-quoted Groovy
//     strings, so Groovy never pastes a parameter into shell code: a `'` or `$(...)` in
//     PYTEST_K stays a literal string.
//   - One run home per build (PERF_RUN_HOME=…/perf-runs/<build number>), so the junit and
//     archive steps publish this build's files only. The history of measurements is shared
//     across builds (PERF_RUN_HISTORY), and so is the TRT_perf database.
//   - The TRT_perf password comes from a Jenkins secret as DB_PASSWORD (never a flag); the ssh
//     key from the agent's ssh-agent (sshagent plugin).
pipeline {
  agent { label 'perf-run' }
  // No timestamps() option: perf-run stamps its own lines when it has no terminal. If your
  // instance forces timestamps(), set PERF_RUN_TIMESTAMPS=0 below to avoid two per line.
  options { timeout(time: 12, unit: 'HOURS') }
  parameters {
    choice(name: 'CLUSTER', choices: ['gb200', 'gb300', 'gb200_lyris'], description: 'cluster profile (configs/clusters.yaml)')
    string(name: 'TESTLIST', defaultValue: 'manual', description: 'test list path INSIDE the TensorRT-LLM checkout, e.g. tests/integration/test_lists/test-db/l0_gb200_multi_nodes.yml or jenkins_test/testlists/single_agg/gb200_perf_sanity.yml; or "manual" to run CONFIG_FILE')
    choice(name: 'FILTER_MODE', choices: ['all', 'single-agg', 'multi-agg', 'disagg'], description: 'only cases of this mode')
    string(name: 'PYTEST_K', defaultValue: '', description: 'pytest-style -k expression over the test ids')
    choice(name: 'GATE', choices: ['none', 'pre_merge', 'post_merge'], description: 'regression gate: pre_merge fails the build on a confirmed regression, post_merge marks it UNSTABLE')
    string(name: 'CONFIG_FILE', defaultValue: '', description: 'manual mode: perf-sanity config base name')
    string(name: 'TRTLLM_REPO', defaultValue: 'https://github.com/NVIDIA/TensorRT-LLM.git')
    string(name: 'TRTLLM_BRANCH', defaultValue: 'main')
    string(name: 'DOCKER_IMAGE', defaultValue: '', description: 'empty: the cluster profile decides')
    string(name: 'MAX_JOBS', defaultValue: '4', description: 'test lists: jobs in the queue at once')
    booleanParam(name: 'DRY_RUN', defaultValue: false, description: 'print the plan only (nothing is submitted or uploaded)')
    booleanParam(name: 'UPLOAD', defaultValue: true, description: 'upload results to TRT_perf')
  }
  environment {
    TRTLLM_DIR       = "${WORKSPACE}/TensorRT-LLM"
    PERF_RUN_HOME    = "${WORKSPACE}/perf-runs/${BUILD_NUMBER}"
    PERF_RUN_HISTORY = "${WORKSPACE}/perf-run-history.db"
    CLUSTER_NAME     = "${params.CLUSTER}"
    USE_TRT_PERF_DB  = "${params.UPLOAD}"
    DB_HOST = 'dlswqa-nas.nvidia.com'
    DB_PORT = '13306'
    DB_USER = 'swqa'
    DB_SCHEMA = 'TRT_perf'
  }
  stages {
    stage('Checkout TensorRT-LLM') {
      steps {
        // The test lists live in this checkout, so TESTLIST is a path inside it.
        dir('TensorRT-LLM') { git url: params.TRTLLM_REPO, branch: params.TRTLLM_BRANCH }
      }
    }
    stage('Run') {
      steps {
        script {
          withCredentials([string(credentialsId: 'trt-perf-db-password', variable: 'DB_PASSWORD')]) {
            sshagent(credentials: ['perf-cluster-ssh-key']) {
              // Single quotes: the shell, not Groovy, expands the parameters below.
              def rc = sh(returnStatus: true, script: '''
                set -u
                args=()
                if [ "$TESTLIST" = manual ]; then
                  if [ -z "$CONFIG_FILE" ]; then
                    echo "CONFIG_FILE is empty: give a perf-sanity config base name, or a TESTLIST." >&2
                    exit 2
                  fi
                  args+=(--config "$CONFIG_FILE")
                else
                  list="$TRTLLM_DIR/$TESTLIST"
                  if [ ! -f "$list" ]; then
                    echo "The test list $TESTLIST is not in the TensorRT-LLM checkout ($list)." >&2
                    exit 2
                  fi
                  args+=(--testlist "$list")
                  [ "$FILTER_MODE" = all ] || args+=(--mode "$FILTER_MODE")
                  [ -z "$PYTEST_K" ] || args+=(-k "$PYTEST_K")
                  args+=(--max-jobs "$MAX_JOBS")
                fi
                [ -z "$DOCKER_IMAGE" ] || args+=(--image "$DOCKER_IMAGE")
                [ "$GATE" = none ] || args+=(--gate "$GATE")
                [ "$DRY_RUN" != true ] || args+=(--dry-run)
                exec perf-run run "${args[@]}" --run-id "jenkins-$BUILD_NUMBER"
              ''')
              // README "Exit codes". 3: a measurement is not trustworthy; 5: results kept but the
              // upload is pending (`perf-run upload --spool` retries); 6: the pre-merge gate
              // found a confirmed regression. A post-merge regression exits 0 and shows as a
              // JUnit failure of type "regression", which makes the junit step mark the build
              // UNSTABLE.
              if (rc == 0) { /* SUCCESS, unless the junit step below finds failures */ }
              else if (rc == 3 || rc == 5) { currentBuild.result = 'UNSTABLE' }
              else if (rc == 7 || rc == 129 || rc == 130 || rc == 143) { currentBuild.result = 'ABORTED' }
              else { currentBuild.result = 'FAILURE' }   // 1 test failed, 2 bad input, 4 infra, 6 regression
            }
          }
        }
      }
    }
  }
  post {
    always {
      // This build's run home only; every exit path of `perf-run run` writes the JUnit file.
      junit allowEmptyResults: false, testResults: "perf-runs/${env.BUILD_NUMBER}/*/results/perf-run-junit.xml"
      // report.html opens from the build's artifacts under Jenkins' default Content-Security-
      // Policy (no JavaScript, no inline styles). The full role logs stay on the cluster and
      // in cases/*/artifacts/; archive them only when you need them (they can be large).
      archiveArtifacts allowEmptyArchive: true,
        artifacts: "perf-runs/${env.BUILD_NUMBER}/*/results/**, perf-runs/${env.BUILD_NUMBER}/*/journal.jsonl, perf-runs/${env.BUILD_NUMBER}/*/run.json"
    }
    aborted {
      // Jenkins sends SIGTERM: perf-run cancels its jobs with one scancel, collects what exists,
      // writes the JUnit and exits 143; nothing else to clean up here.
      echo 'aborted: perf-run cancelled its Slurm jobs'
    }
  }
}
