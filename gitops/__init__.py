"""The platform as code: a platform file (YAML, kept in Git) describes the topics, ACLs, SCRAM users, schemas,
connectors and stream applications of each cluster; ``plan`` shows what applying it would change, ``apply`` makes
exactly a reviewed plan through the one gate, ``drift`` says whether the clusters still match.

    model      the file's schema (version 1) and what a file manages
    secrets    ${env:...} / ${file:...} references, resolved only when a step runs
    state      the desired resources (from the file) and the observed ones (from the cluster), in one shape
    steps      per resource: what changes, the policy verdict of the gate's rules, what the step needs
    plan       the steps of every cluster, Terraform-style, saved as JSON with the fingerprints apply checks
    applier    one step through the gate: its Change, the domain call with the permit, the read-back
    apply      a saved plan: the checks before any change, consent once, the steps in order, the result
    consent    the person at the terminal consents for `kafka-agent apply`
    export     the file of what runs now; ``strimzi``: KafkaTopic / KafkaUser manifests checked against the CRDs
    drift      plan without saving: in sync or not, per kind (the exporter's drift section)
    gitinfo    the commit a plan was made from, uncommitted changes, committing an export
    files      reading files, saving plans, the platform folder of the MCP tools
"""
