// Example Jenkins pipeline for perf-run: parameters -> environment -> ONE perf-run command.
// It replaces the legacy jenkins_test/Perf_Test.groovy + sync_and_run.sh + run_*_test.sh chain
// (reference §1.1). perf-run itself syncs the checkout to the cluster over one ssh connection,
// submits, watches, collects, writes JUnit and uploads to TRT_perf.
//
// Credentials: the TRT_perf password comes from a Jenkins secret as DB_PASSWORD (never a flag);
// the ssh key from the agent's ssh-agent (sshagent plugin). The login node's host key must be
// in the agent's known_hosts: perf-run checks host keys strictly.
pipeline {
  agent { label 'perf-run' }
  options { timeout(time: 12, unit: 'HOURS'); timestamps() }
  parameters {
    choice(name: 'CLUSTER', choices: ['gb200', 'gb300', 'gb200_lyris'], description: 'cluster profile (configs/clusters.yaml)')
    string(name: 'TESTLIST', defaultValue: 'manual', description: 'test list file under jenkins_test/testlists (.yml or .txt), or "manual"')
    choice(name: 'FILTER_MODE', choices: ['all', 'single-agg', 'multi-agg', 'disagg'], description: 'only cases of this mode')
    string(name: 'PYTEST_K', defaultValue: '', description: 'pytest-style -k expression over the test ids')
    string(name: 'CONFIG_FILE', defaultValue: '', description: 'manual mode: perf-sanity config base name')
    string(name: 'TRTLLM_REPO', defaultValue: 'https://github.com/NVIDIA/TensorRT-LLM.git')
    string(name: 'TRTLLM_BRANCH', defaultValue: 'main')
    string(name: 'DOCKER_IMAGE', defaultValue: '', description: 'empty: the cluster profile decides')
    string(name: 'MAX_JOBS', defaultValue: '4', description: 'test lists: jobs in the queue at once')
    booleanParam(name: 'DRY_RUN', defaultValue: false, description: 'print the generated sbatch scripts only')
    booleanParam(name: 'UPLOAD', defaultValue: true, description: 'upload results to TRT_perf')
  }
  environment {
    TRTLLM_DIR     = "${WORKSPACE}/TensorRT-LLM"
    PERF_RUN_HOME  = "${WORKSPACE}/perf-runs"
    CLUSTER_NAME   = "${params.CLUSTER}"
    DOCKER_IMAGE   = "${params.DOCKER_IMAGE}"   // empty = the profile's image
    USE_TRT_PERF_DB = "${params.UPLOAD}"
    DB_HOST = 'dlswqa-nas.nvidia.com'
    DB_PORT = '13306'
    DB_USER = 'swqa'
    DB_SCHEMA = 'TRT_perf'
  }
  stages {
    stage('Checkout TensorRT-LLM') {
      steps {
        dir('TensorRT-LLM') { git url: params.TRTLLM_REPO, branch: params.TRTLLM_BRANCH }
      }
    }
    stage('Run') {
      steps {
        script {
          def select = params.TESTLIST == 'manual'
            ? "--config '${params.CONFIG_FILE}'"
            : "--testlist '${WORKSPACE}/jenkins_test/testlists/${params.TESTLIST}'"
          def filters = ''
          if (params.TESTLIST != 'manual' && params.FILTER_MODE != 'all') { filters += " --mode ${params.FILTER_MODE}" }
          if (params.TESTLIST != 'manual' && params.PYTEST_K?.trim()) { filters += " -k '${params.PYTEST_K}'" }
          def dry = params.DRY_RUN ? '--dry-run' : ''
          withCredentials([string(credentialsId: 'trt-perf-db-password', variable: 'DB_PASSWORD')]) {
            sshagent(credentials: ['perf-cluster-ssh-key']) {
              // One command. Exit codes: 0 ok, 1 test failure, 2 bad input, 3 invalid measurement,
              // 4 infrastructure, 5 results kept but upload pending, 7 cancelled, 130/143 aborted.
              def rc = sh(returnStatus: true, script: """
                perf-run run ${select}${filters} ${dry} --max-jobs ${params.MAX_JOBS} \
                  --run-id "jenkins-${env.BUILD_NUMBER}" --follow
              """)
              if (rc == 3 || rc == 5) { currentBuild.result = 'UNSTABLE' }
              else if (rc == 7 || rc == 130 || rc == 143) { currentBuild.result = 'ABORTED' }
              else if (rc != 0) { currentBuild.result = 'FAILURE' }
            }
          }
        }
      }
    }
  }
  post {
    always {
      junit allowEmptyResults: true, testResults: 'perf-runs/*/results/perf-run-junit.xml'
      archiveArtifacts allowEmptyArchive: true, artifacts: 'perf-runs/**/results/**, perf-runs/**/journal.jsonl, perf-runs/**/run.json, perf-runs/**/cases/**'
    }
    aborted {
      // Jenkins sends SIGTERM: perf-run cancels its jobs with one scancel, collects what exists
      // and exits 143; nothing else to clean up here.
      echo 'aborted: perf-run cancelled its Slurm jobs'
    }
  }
}
