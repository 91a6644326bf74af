// The locale tailorings marker with no data: every request is answered "identifier not found",
// which makes `Collator::try_new` fail for a tailored locale (see mod.rs).

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_collation_tailoring_v1 {
    ($provider:ty) => {
        impl icu_provider::DataProvider<icu::collator::provider::CollationTailoringV1> for $provider {
            fn load(
                &self,
                req: icu_provider::DataRequest,
            ) -> Result<icu_provider::DataResponse<icu::collator::provider::CollationTailoringV1>, icu_provider::DataError>
            {
                Err(icu_provider::DataErrorKind::IdentifierNotFound
                    .with_req(<icu::collator::provider::CollationTailoringV1 as icu_provider::DataMarker>::INFO, req))
            }
        }
    };
    ($provider:ty, DRY) => {};
}
#[doc(inline)]
pub use __impl_collation_tailoring_v1 as impl_collation_tailoring_v1;
