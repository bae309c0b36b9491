//! What compiled read plans serve of `ExportJob` (see [`crate::graphql::plannable`]):
//! every field, written here as the resolvers in [`super::jobs`] render them, from the
//! same [`ExportJob`] (its download path signed when the plan loads it, as the resolver
//! signs it when it runs).

use super::jobs::{ExportJob, EXPORT_JOB_KIND};
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for ExportJob {
    const TYPE: &'static str = "ExportJob";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::scalar("id", "ID!", |job, out| {
            out.global_id(EXPORT_JOB_KIND, job.row.id)
        }),
        FieldPlan::scalar("status", "ExportStatus!", |job, out| {
            out.enum_value(job.row.status())
        }),
        FieldPlan::scalar("progress", "Float!", |job, out| {
            out.float(job.row.progress())
        }),
        FieldPlan::scalar("rows", "Int!", |job, out| out.int(job.row.rows_done)),
        FieldPlan::scalar("bytes", "Int!", |job, out| out.int(job.row.bytes_done)),
        FieldPlan::scalar("error", "String", |job, out| {
            out.optional(job.row.error.as_deref())
        }),
        FieldPlan::scalar("createdAt", "DateTime!", |job, out| {
            out.timestamp(&job.row.created_at)
        }),
        FieldPlan::scalar("finishedAt", "DateTime", |job, out| {
            out.optional_timestamp(job.row.finished_at.as_ref())
        }),
        FieldPlan::scalar("downloadUrl", "String", |job, out| {
            out.optional(job.download.as_ref().map(|(url, _)| url.as_str()))
        }),
        FieldPlan::scalar("downloadExpiresAt", "DateTime", |job, out| {
            out.optional_timestamp(job.download.as_ref().map(|(_, at)| at))
        }),
    ];
}
