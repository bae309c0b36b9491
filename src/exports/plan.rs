//! What compiled read plans serve of `ExportJob` (see [`crate::graphql::plannable`]):
//! every field, written here as the resolvers in [`super::jobs`] render them, from the
//! same [`ExportJob`] (its download path signed when the plan loads it, as the resolver
//! signs it when it runs).

use super::jobs::{ExportJob, EXPORT_JOB_KIND};
use crate::graphql::plannable::{FieldPlan, Planned};

impl Planned for ExportJob {
    const TYPE: &'static str = "ExportJob";
    const FIELDS: &'static [FieldPlan<Self>] = &[
        FieldPlan::Scalar {
            name: "id",
            ty: "ID!",
            write: |job, out| out.global_id(EXPORT_JOB_KIND, job.row.id),
        },
        FieldPlan::Scalar {
            name: "status",
            ty: "ExportStatus!",
            write: |job, out| out.enum_value(job.row.status()),
        },
        FieldPlan::Scalar {
            name: "progress",
            ty: "Float!",
            write: |job, out| out.float(job.row.progress()),
        },
        FieldPlan::Scalar {
            name: "rows",
            ty: "Int!",
            write: |job, out| out.int(job.row.rows_done),
        },
        FieldPlan::Scalar {
            name: "bytes",
            ty: "Int!",
            write: |job, out| out.int(job.row.bytes_done),
        },
        FieldPlan::Scalar {
            name: "error",
            ty: "String",
            write: |job, out| out.optional(job.row.error.as_deref()),
        },
        FieldPlan::Scalar {
            name: "createdAt",
            ty: "DateTime!",
            write: |job, out| out.timestamp(&job.row.created_at),
        },
        FieldPlan::Scalar {
            name: "finishedAt",
            ty: "DateTime",
            write: |job, out| out.optional_timestamp(job.row.finished_at.as_ref()),
        },
        FieldPlan::Scalar {
            name: "downloadUrl",
            ty: "String",
            write: |job, out| out.optional(job.download.as_ref().map(|(url, _)| url.as_str())),
        },
        FieldPlan::Scalar {
            name: "downloadExpiresAt",
            ty: "DateTime",
            write: |job, out| out.optional_timestamp(job.download.as_ref().map(|(_, at)| at)),
        },
    ];
}
